"""User-facing errors: the CLI prints them as one line, without a traceback."""

WORKER_WRAPPED = "in DataLoader worker process"


class DabenchError(Exception):
    """A problem with the user's input (config, name, data) whose message names the fix."""

    def __init__(self, message: str = ""):
        # A DataLoader re-raises a worker's error as ``type(error)("Caught DabenchError in DataLoader worker
        # process 0.\nOriginal Traceback ...\nDabenchError: <message>")``: keep the message, which names the fix.
        if WORKER_WRAPPED in message.split("\n", 1)[0]:
            message = message.rstrip().rsplit("\n", 1)[-1].removeprefix(f"{type(self).__module__}.")
            message = message.split(": ", 1)[1] if message.startswith(type(self).__name__) else message
        super().__init__(message)


class NonFiniteLoss(DabenchError):
    """Training diverged: a loss term, or the model's outputs at an evaluation, became NaN or infinite. The run
    is recorded as failed."""
