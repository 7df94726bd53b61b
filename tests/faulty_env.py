"""An environment whose fire task misbehaves on a chosen step, to test the vector env's fault handling."""

import os
import signal
import time

from fuelbreak.env import FuelBreakEnv, Task


def faulty_step(fault: str, fn, *args):
    """The real step task `fn(*args)`, after misbehaving as asked: hang, die, raise, or be slow but in time."""
    if fault == "hang":
        time.sleep(3600)
    elif fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == "raise":
        raise RuntimeError("simulated fire model failure")
    elif fault == "slow":
        time.sleep(0.6)
    return fn(*args)


class FaultyEnv(FuelBreakEnv):
    """Its step number `at_step` (counted over the environment's life, from 1) runs `faulty_step`."""

    def __init__(self, fault: str, at_step: int, **kwargs):
        super().__init__(**kwargs)
        self.fault, self.at_step, self.steps = fault, at_step, 0

    def step_task(self, action, held: bool = False) -> Task:
        task = super().step_task(action, held)
        self.steps += 1
        if self.steps == self.at_step:
            return Task(faulty_step, (self.fault, task.fn, *task.args))
        return task
