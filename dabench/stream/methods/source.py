"""No adaptation: the source model predicts every batch as it is (the stream's reference row).

Updates nothing and keeps nothing; batch norm uses the source's running statistics.
"""
from dabench.stream.base import STREAM_METHODS, StreamMethod


@STREAM_METHODS.register("source")
class Source(StreamMethod):
    """The source model, unadapted."""
