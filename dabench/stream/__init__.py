"""Online and continual test-time adaptation: the stream protocol (protocol.py) and its methods (methods/).

A model trained on the source meets the target's test inputs as an ordered stream of batches, each
seen once; a batch is scored from the predictions the method returned when it arrived, with no
label, no source data and no second pass.
"""
