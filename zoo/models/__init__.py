"""Model families; importing this package registers every builder."""

from zoo.models import cnn, mlp, sequence, transfer  # noqa: F401
