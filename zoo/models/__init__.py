"""Model families; importing this package registers every builder."""

from zoo.models import _schedules, bert, cnn, generative, mlp, sequence, transfer  # noqa: F401
