"""An environment whose fire task misbehaves on a chosen step, to test the vector env's fault handling."""

import os
import signal
import time

from fuelbreak.env import FuelBreakEnv, Task
from fuelbreak.env.simulation import simulate_step


def faulty_step(fault: str, engine, breaks, ignitions, *observation):
    """The real step task, after misbehaving as asked: hang, die, raise, or be slow but in time."""
    if fault == "hang":
        time.sleep(3600)
    elif fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == "raise":
        raise RuntimeError("simulated fire model failure")
    elif fault == "slow":
        time.sleep(0.6)
    return simulate_step(engine, breaks, ignitions, *observation)


class FaultyEnv(FuelBreakEnv):
    """Its step number `at_step` (counted over the environment's life, from 1) runs `faulty_step`."""

    def __init__(self, fault: str, at_step: int, **kwargs):
        super().__init__(**kwargs)
        self.fault, self.at_step, self.steps = fault, at_step, 0

    def step_task(self, action) -> Task:
        task = super().step_task(action)
        self.steps += 1
        if self.steps == self.at_step:
            return Task(faulty_step, (self.fault, *task.args))
        return task
