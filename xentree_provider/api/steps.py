"""Running a sans-IO flow: a generator that yields steps and is sent their results.

The request flow (:mod:`xentree_provider.api.flow`) and the token renewal (:mod:`xentree_provider.api.tokens`)
decide everything (what to send, how long to wait, when a token is needed) without doing any I/O. A driver
performs each step the flow yields and hands the result back; an error the step raised is thrown into the
flow at the ``yield``, where the flow decides what it means. :func:`run_flow` drives with plain calls,
:func:`arun_flow` with awaits: that is all that differs between the sync and the async clients.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Flow", "arun_flow", "run_flow"]

StepT = TypeVar("StepT")
ResultT = TypeVar("ResultT")

#: A flow yields steps of type ``StepT``, is sent their results, and returns ``ResultT``.
Flow = Generator[StepT, Any, ResultT]


@dataclass(frozen=True)
class _Outcome:
    """What performing a step gave: a value, or the error it raised."""

    value: Any = None
    error: Exception | None = None


class _Stepper(Generic[StepT, ResultT]):
    """Feeds outcomes into a flow and hands out its next step until it returns."""

    def __init__(self, flow: Flow[StepT, ResultT]) -> None:
        self._flow = flow
        self._outcome = _Outcome()
        self._started = False
        self.result: ResultT

    def next_step(self) -> tuple[StepT] | None:
        """The next step (in a 1-tuple), or None once the flow has returned (see :attr:`result`)."""
        outcome, self._outcome = self._outcome, _Outcome()
        try:
            if not self._started:
                self._started = True
                return (next(self._flow),)
            if outcome.error is not None:
                return (self._flow.throw(outcome.error),)
            return (self._flow.send(outcome.value),)
        except StopIteration as done:
            self.result = done.value
            return None

    def settle(self, outcome: _Outcome) -> None:
        """Record what the last step gave, for the flow to receive on the next :meth:`next_step`."""
        self._outcome = outcome


def _perform(perform: Callable[[StepT], Any], step: StepT) -> _Outcome:
    try:
        return _Outcome(value=perform(step))
    except Exception as error:
        return _Outcome(error=error)


async def _aperform(perform: Callable[[StepT], Awaitable[Any]], step: StepT) -> _Outcome:
    try:
        return _Outcome(value=await perform(step))
    except Exception as error:
        return _Outcome(error=error)


def run_flow(flow: Flow[StepT, ResultT], perform: Callable[[StepT], Any]) -> ResultT:
    """Drive ``flow`` to its end, performing each step with ``perform``; return what the flow returns."""
    stepper = _Stepper(flow)
    while (step := stepper.next_step()) is not None:
        stepper.settle(_perform(perform, step[0]))
    return stepper.result


async def arun_flow(flow: Flow[StepT, ResultT], perform: Callable[[StepT], Awaitable[Any]]) -> ResultT:
    """Drive ``flow`` to its end, awaiting ``perform`` for each step; return what the flow returns."""
    stepper = _Stepper(flow)
    while (step := stepper.next_step()) is not None:
        stepper.settle(await _aperform(perform, step[0]))
    return stepper.result
