"""The app's one worker pattern: typed results, and a superseded start's result never applied."""

from __future__ import annotations

import threading

from textual.app import App
from tui_fixtures import wait_until

from vit_tui.tui.tasks import TaskFailed, TaskResult, Tasks


class Answered(TaskResult[str]):
    """What a test task returned."""


class TaskApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.tasks = Tasks(self)
        self.answers: list[str] = []
        self.failures: list[str] = []

    def on_answered(self, message: Answered) -> None:
        self.answers.append(message.result)

    def on_task_failed(self, message: TaskFailed) -> None:
        assert message.task is Answered
        self.failures.append(message.message)


async def test_a_result_of_a_superseded_start_is_dropped():
    app = TaskApp()
    async with app.run_test() as pilot:
        release = threading.Event()

        def slow() -> str:
            release.wait(10)
            return "A"

        first = app.tasks.start(Answered, slow)
        second = app.tasks.start(Answered, lambda: "B")
        await wait_until(pilot, lambda: app.answers == ["B"], 10)
        release.set()  # A's result now arrives after B's start (and after B's result)
        await wait_until(pilot, lambda: first.is_finished, 10)
        await pilot.pause(0.2)
        assert app.answers == ["B"] and second.is_finished
        assert app.tasks.newest(Answered).worker is second


async def test_a_raise_comes_back_as_task_failed_and_the_next_start_as_its_result():
    app = TaskApp()
    async with app.run_test() as pilot:

        def broken() -> str:
            raise ValueError("no such file")

        app.tasks.start(Answered, broken)
        await wait_until(pilot, lambda: app.failures == ["ValueError: no such file"], 10)
        app.tasks.start(Answered, lambda: "again")
        await wait_until(pilot, lambda: app.answers == ["again"], 10)
