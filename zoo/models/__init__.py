"""Model families; importing this package registers every builder."""

from zoo.models import cnn, mlp, transfer  # noqa: F401
