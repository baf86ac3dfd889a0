"""Model families; importing this package registers every builder."""

from zoo.models import (  # noqa: F401
    _schedules,
    bert,
    cnn,
    generative,
    gpt2,
    language,
    mlp,
    seq2seq,
    sequence,
    transfer,
)
