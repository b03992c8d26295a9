"""The debugger: source, call stack, variables, console and output of a debuggee.

The debuggee is either a replay this screen starts (`replay run ID --attach`, restarted
with `r`) or any debugpy listener given as HOST:PORT. Every DAP request runs in a
thread worker and comes back as a message; the screen owns the state (sessions, the
stop, breakpoints) and hands it down to the widgets, which only draw it and report
what the user did.

A replay stops post-mortem at the failure site, where there is nothing left to step
through. Once the user has set breakpoints, a restart replays from the start so they
are hit, and stepping works from there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Log, Tab, TabbedContent, TabPane, Tabs
from textual.worker import get_current_worker

from replay.capture.failure import is_library_file
from replay.dap import DapError, DapEvent, DapSession, StoppedEvent, attach
from tui.debug import control
from tui.debug.events import pump_events
from tui.debug.output_buffer import OutputBuffer
from tui.debug.replay_process import ReplayProcess, ReplayRequest, listening_address
from tui.debug.sessions import Phase, SessionState
from tui.debug.views import StopView, load_frame, load_stop
from tui.highlight import highlight
from tui.screens import debugger_messages as messages
from tui.widgets.call_stack import CallStack
from tui.widgets.eval_console import EvalConsole
from tui.widgets.source_view import SourceView
from tui.widgets.status_line import StatusLine
from tui.widgets.variables_tree import VariablesTree
from tui.worker_failures import ShowsWorkerFailures


@dataclass(frozen=True)
class AttachTarget:
    """Any debugpy listener (`replay tui --attach HOST:PORT`)."""

    host: str
    port: int


Target = ReplayRequest | AttachTarget


class DebuggerScreen(ShowsWorkerFailures, Screen[None]):
    CSS_PATH = "debugger.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5,c", "continue", "Continue", key_display="F5/c"),
        Binding("f10,n", "step('next')", "Step over", key_display="F10/n"),
        Binding("f11,s", "step('step_in')", "Step in", key_display="F11/s"),
        Binding("shift+f11,u", "step('step_out')", "Step out", key_display="⇧F11/u"),
        Binding("f9,b", "toggle_breakpoint", "Breakpoint", key_display="F9/b"),
        Binding("p", "pause", "Pause"),
        Binding("r", "restart", "Restart"),
        Binding("escape", "leave", "Back"),
    ]

    # -- set-up ------------------------------------------------------------------------

    def __init__(self, target: Target, *, title: str = "") -> None:
        super().__init__()
        self._target = target
        self._title = title
        self._run = 0
        self._process: ReplayProcess | None = None
        self._sessions: list[SessionState] = []
        self._active: SessionState | None = None
        self._breakpoints: dict[str, set[int]] = {}
        self._output = OutputBuffer()
        self._leaving = threading.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(id="sessions")
        with Horizontal(id="top"):
            yield SourceView(id="source")
            with Vertical(id="side"):
                yield CallStack(id="stack")
                yield VariablesTree(id="variables")
        with TabbedContent(id="bottom"):
            with TabPane("Output", id="output-pane"):
                yield Log(id="output", max_lines=10_000)
            with TabPane("Console", id="console-pane"):
                yield EvalConsole(id="console")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.title = self._title or "debugger"
        self.query_one("#sessions", Tabs).display = False
        self.query_one("#stack", CallStack).border_title = "call stack"
        self.query_one("#variables", VariablesTree).border_title = "variables"
        self.query_one("#source", SourceView).border_title = "source"
        self._start()

    def _start(self) -> None:
        self._run += 1
        target = self._target
        if isinstance(target, ReplayRequest):
            request = ReplayRequest(target.store_root, target.capture_id,
                                    from_start=any(self._breakpoints.values()), source=target.source)
            how = "from the start (breakpoints set)" if request.from_start else "to the failure"
            self.sub_title = f"replay {how}"
            self._status("waiting", f"replaying {how}…")
            self._run_replay(self._run, request)
        else:
            self.sub_title = f"attaching to {target.host}:{target.port}"
            self._status("waiting", f"attaching to {target.host}:{target.port}…")
            self._attach_debugger(self._run, target.host, target.port, self._breakpoint_lines())

    @property
    def _cancelled(self) -> Callable[[], bool]:
        worker = get_current_worker()
        return lambda: self._leaving.is_set() or worker.is_cancelled

    # -- the replay process and attaching ----------------------------------------------

    @work(thread=True, group="replay", exit_on_error=False)
    def _run_replay(self, run: int, request: ReplayRequest) -> None:
        process = ReplayProcess(request)
        if run != self._run:  # restarted while this one was starting
            process.stop()
            return
        self._process = process
        last_words = ""
        cancelled = self._cancelled
        for line in process.stderr_lines(cancelled):
            address = listening_address(line)
            if address is not None:
                self.post_message(messages.ReplayListening(run, *address))
                continue
            if line.startswith("replay: "):
                last_words = line.strip()
            self._write_output(line)
        if not cancelled():
            self.post_message(messages.ReplayFinished(run, process.wait(), last_words))

    def on_replay_listening(self, message: messages.ReplayListening) -> None:
        if message.run == self._run:
            self._status("waiting", f"attaching to the replay on {message.host}:{message.port}…")
            self._attach_debugger(message.run, message.host, message.port, self._breakpoint_lines())

    def _breakpoint_lines(self) -> dict[str, list[int]]:
        """A copy for a worker: the breakpoints a new session starts with."""
        return {path: sorted(lines) for path, lines in self._breakpoints.items() if lines}

    @work(thread=True, group="attach", exit_on_error=False)
    def _attach_debugger(self, run: int, host: str, port: int, breakpoints: dict[str, list[int]]) -> None:
        def follow(child: DapSession) -> None:
            self.post_message(messages.ChildAttached(child, run))

        try:
            session = attach(host, port, breakpoints=breakpoints, on_child=follow)
        except DapError as exc:
            self.post_message(messages.AttachFailed(run, str(exc)))
            return
        state = SessionState(session, run)
        self.post_message(messages.Attached(state))
        self._pump(state)

    @work(thread=True, exit_on_error=False)
    def _follow_child(self, state: SessionState) -> None:
        self._pump(state)

    def _pump(self, state: SessionState) -> None:
        """On a worker thread: the session's events, in order, until it ends."""

        def deliver(event: DapEvent) -> None:
            if event.event == "output":
                if event.body.get("category") in ("stdout", "stderr", "console"):
                    self._write_output(str(event.body.get("output", "")))
            else:
                self.post_message(messages.EventArrived(state, event))

        end = pump_events(state.session.client, deliver, self._cancelled)
        self.post_message(messages.SessionEnded(state, end))

    async def on_attached(self, message: messages.Attached) -> None:
        state = message.state
        if state.run != self._run or self._leaving.is_set():
            self._close_in_background([state], None)
            return
        await self._add_session(state)

    def on_attach_failed(self, message: messages.AttachFailed) -> None:
        if message.run == self._run:
            self._status("lost", f"cannot attach: {message.error}")
            self.notify(message.error, title="cannot attach", severity="error")

    async def on_child_attached(self, message: messages.ChildAttached) -> None:
        state = SessionState(message.session, message.run)
        if message.run != self._run or self._leaving.is_set():
            self._close_in_background([state], None)
            return
        self._follow_child(state)
        await self._add_session(state)

    async def _add_session(self, state: SessionState) -> None:
        self._sessions.append(state)
        tabs = self.query_one("#sessions", Tabs)
        tabs.display = len(self._sessions) > 1
        await tabs.add_tab(Tab(state.name, id=f"session-{id(state)}"))  # one at a time
        if self._active is None:
            self._activate(state)

    @on(Tabs.TabActivated, "#sessions")
    def _session_chosen(self, event: Tabs.TabActivated) -> None:
        chosen = next((s for s in self._sessions if f"session-{id(s)}" == event.tab.id), None)
        if chosen is not None and chosen is not self._active:
            self._activate(chosen)

    def _activate(self, state: SessionState) -> None:
        """Show `state`'s session: its status, stack and frame."""
        self._active = state
        self._status(state.phase, state.said)
        if state.stop is not None:
            self._show_stop(state)
        else:
            self._clear_stop()

    # -- events ------------------------------------------------------------------------

    def on_event_arrived(self, message: messages.EventArrived) -> None:
        state, event = message.state, message.event
        if event.event == "stopped":
            self._load_stop(state, StoppedEvent.from_dap(event.body))
        elif event.event == "continued":
            self._set_phase(state, "running", "running")
        elif event.event == "exited":
            self._set_phase(state, "exited", f"exited: code {event.body.get('exitCode', '?')}")
        elif event.event == "process" and isinstance(self._target, AttachTarget) and state is self._active:
            self.sub_title = f"{event.body.get('name', '?')} · pid {event.body.get('systemProcessId', '?')}"

    def on_session_ended(self, message: messages.SessionEnded) -> None:
        state, end = message.state, message.end
        if not self._leaving.is_set():
            self._close_in_background([state], None)  # lets debugpy's adapter exit
        if state.phase == "exited":
            return  # the exit code (or the verdict) is already shown
        self._set_phase(state, "lost" if end.lost else "exited",
                        f"connection lost: {end.reason}" if end.lost else f"exited: {end.reason}")
        if end.lost and state is self._active and not self._leaving.is_set():
            self.notify(f"{end.reason}. Press r to replay again, escape to go back.",
                        title="debugger connection lost", severity="error")

    def on_replay_finished(self, message: messages.ReplayFinished) -> None:
        if message.run != self._run:
            return
        said = message.ended.describe()
        if message.ended.verdict is None and message.last_words:
            said += f" · {message.last_words}"
        main = self._sessions[0] if self._sessions and self._sessions[0].run == message.run else None
        if main is not None:
            self._set_phase(main, "exited", said)
        else:
            self._status("exited", said)

    def _set_phase(self, state: SessionState, phase: Phase, said: str) -> None:
        state.phase, state.said = phase, said
        if phase != "stopped":
            state.stop = None
        if state is self._active:
            self._status(state.phase, said)
            if phase != "stopped":
                self._clear_stop()

    @work(thread=True, group="dap", exit_on_error=False)
    def _load_stop(self, state: SessionState, event: StoppedEvent) -> None:
        try:
            stop = load_stop(state.session.client, event)
        except DapError as exc:
            self.post_message(messages.Problem(f"reading the stop failed: {exc}"))
            return
        self.post_message(messages.StopLoaded(state, stop))

    def on_stop_loaded(self, message: messages.StopLoaded) -> None:
        state = message.state
        state.stop, state.frame_index = message.stopped, 0
        self._set_phase(state, "stopped", message.stopped.describe())
        if state is self._active:
            self._show_stop(state)

    def _show_stop(self, state: SessionState) -> None:
        assert state.stop is not None
        frames = state.stop.frames
        self.query_one("#stack", CallStack).show(
            frames, [f.path is not None and not is_library_file(f.path) for f in frames], state.frame_index
        )

    def _clear_stop(self) -> None:
        self.query_one("#stack", CallStack).clear_options()
        self.query_one("#source", SourceView).clear_current()
        self.query_one("#variables", VariablesTree).show_message("(running)")

    def on_call_stack_frame_selected(self, message: CallStack.FrameSelected) -> None:
        state = self._active
        if state is None or state.stop is None or message.index >= len(state.stop.frames):
            return
        state.frame_index = message.index
        self._load_frame(state, state.stop, message.index)

    @work(thread=True, exclusive=True, group="frame", exit_on_error=False)
    def _load_frame(self, state: SessionState, stop: StopView, index: int) -> None:
        frame = stop.frames[index]
        try:
            view = load_frame(state.session.client, frame)
        except DapError as exc:
            self.post_message(messages.Problem(f"reading frame {frame.name} failed: {exc}"))
            return
        lines = highlight(frame.path or "", view.source) if view.source is not None else ()
        self.post_message(messages.FrameLoaded(state, stop, index, view, lines))

    def on_frame_loaded(self, message: messages.FrameLoaded) -> None:
        state = message.state
        if state is not self._active or state.stop is not message.stopped or state.frame_index != message.index:
            return  # the user moved on meanwhile
        frame = message.view.frame
        source = self.query_one("#source", SourceView)
        note = f"no source for {frame.name}" if message.view.source is None else ""
        source.show(frame.path, message.lines, frame.line if message.lines else None, note)
        source.set_breakpoints(self._breakpoints.get(frame.path or "", set()))
        source.border_title = f"{frame.path or frame.name}:{frame.line}"
        self.query_one("#variables", VariablesTree).show_scopes(message.view.scopes)

    # -- variables ---------------------------------------------------------------------

    def on_variables_tree_children_wanted(self, message: VariablesTree.ChildrenWanted) -> None:
        if self._active is not None:
            self._fetch_children(self._active, message)

    @work(thread=True, group="dap", exit_on_error=False)
    def _fetch_children(self, state: SessionState, wanted: VariablesTree.ChildrenWanted) -> None:
        try:
            rows = state.session.client.variables(wanted.reference)
        except DapError as exc:
            self.post_message(messages.Problem(f"reading variables failed: {exc}"))
            return
        self.post_message(messages.ChildrenLoaded(wanted.node_id, wanted.generation, rows))

    def on_children_loaded(self, message: messages.ChildrenLoaded) -> None:
        self.query_one("#variables", VariablesTree).fill(message.node_id, message.rows, message.generation)

    # -- console and output ------------------------------------------------------------

    def on_eval_console_submitted(self, message: EvalConsole.Submitted) -> None:
        state = self._active
        if state is None or state.stop is None:
            self.query_one(EvalConsole).show_result("the debuggee is not stopped", error=True)
            return
        self._evaluate(state, state.stop.frames[state.frame_index].id, message.expression)

    @work(thread=True, group="dap", exit_on_error=False)
    def _evaluate(self, state: SessionState, frame_id: int, expression: str) -> None:
        try:
            result = state.session.client.evaluate(expression, frame_id=frame_id, timeout=60)
        except DapError as exc:
            self.post_message(messages.Evaluated(str(exc), True))
            return
        self.post_message(messages.Evaluated(result.result, False))

    def on_evaluated(self, message: messages.Evaluated) -> None:
        self.query_one(EvalConsole).show_result(message.text, error=message.error)

    def _write_output(self, text: str) -> None:
        """From any thread: queue program output for the output pane."""
        if self._output.add(text):
            self.post_message(messages.OutputPending())

    def on_output_pending(self, message: messages.OutputPending) -> None:
        self.query_one("#output", Log).write(self._output.drain())

    def on_problem(self, message: messages.Problem) -> None:
        self.notify(message.text, severity="error")

    # -- actions -----------------------------------------------------------------------

    def _stopped_state(self) -> SessionState | None:
        state = self._active
        if state is None or state.stop is None:
            self.notify("the debuggee is not stopped", severity="warning")
            return None
        return state

    def action_continue(self) -> None:
        if (state := self._stopped_state()) is not None:
            self._resume(state, "continue")

    def action_step(self, command: str) -> None:
        state = self._stopped_state()
        if state is None or state.stop is None:
            return
        target = self._target
        if isinstance(target, ReplayRequest) and not self._run_from_start and state.stop.reason == "exception":
            self.notify(f"This is the failure, post-mortem: there is nothing left to {control.STEP_WORDS[command]}. "
                        "Set a breakpoint (F9/b) on an earlier line and restart (r) to step up to it.",
                        title="post-mortem", severity="warning", timeout=8)
            return
        self._resume(state, command)

    @property
    def _run_from_start(self) -> bool:
        return self._process is not None and self._process.request.from_start

    def _resume(self, state: SessionState, command: str) -> None:
        assert state.stop is not None
        thread_id = state.stop.thread_id
        self._set_phase(state, "running", "running")
        self._send_command(state, command, thread_id)

    @work(thread=True, group="dap", exit_on_error=False)
    def _send_command(self, state: SessionState, command: str, thread_id: int | None) -> None:
        try:
            control.send(state.session.client, command, thread_id)
        except (DapError, IndexError) as exc:
            self.post_message(messages.Problem(f"{command} failed: {exc}"))

    def action_pause(self) -> None:
        state = self._active
        if state is None or state.phase != "running":
            self.notify("the debuggee is not running", severity="warning")
            return
        self._send_command(state, "pause", None)

    def action_toggle_breakpoint(self) -> None:
        source = self.query_one("#source", SourceView)
        if source.path is None:
            self.notify("no source file shown", severity="warning")
            return
        self._toggle_breakpoint(source.path, source.cursor_line)

    def on_source_view_breakpoint_toggled(self, message: SourceView.BreakpointToggled) -> None:
        self._toggle_breakpoint(message.path, message.line)

    def _toggle_breakpoint(self, path: str, line: int) -> None:
        lines = self._breakpoints.setdefault(path, set())
        lines.symmetric_difference_update({line})
        self.query_one("#source", SourceView).set_breakpoints(lines)
        live = [s for s in self._sessions if s.phase in ("running", "stopped")]
        if live:
            self._send_breakpoints(live, path, sorted(lines))

    @work(thread=True, group="dap", exit_on_error=False)
    def _send_breakpoints(self, states: list[SessionState], path: str, lines: list[int]) -> None:
        refused = control.set_breakpoints(states, path, lines)
        if refused:
            self.post_message(messages.Problem(f"breakpoint not accepted: {'; '.join(refused)}"))

    def action_restart(self) -> None:
        if not isinstance(self._target, ReplayRequest):
            self.notify("restart replays a capture; this session was attached with --attach", severity="warning")
            return
        states, process = self._sessions, self._process
        self._sessions, self._active, self._process = [], None, None
        tabs = self.query_one("#sessions", Tabs)
        tabs.clear()
        tabs.display = False
        self._clear_stop()
        self.query_one("#output", Log).write("\n── restart ──\n")
        self._close_in_background(states, process, then=self._start)

    def action_leave(self) -> None:
        self.app.pop_screen()

    # -- ending ------------------------------------------------------------------------

    def _close_in_background(self, states: list[SessionState], process: ReplayProcess | None,
                             then: Callable[[], None] | None = None) -> None:
        terminate = isinstance(self._target, ReplayRequest)

        app = self.app

        def close() -> None:
            control.close_all(states, process, terminate)
            if then is not None and not self._leaving.is_set():
                app.call_from_thread(then)

        threading.Thread(target=close, name="debugger-close", daemon=True).start()

    def on_unmount(self) -> None:
        """Leave nothing behind: detach (or end our replay) before the screen goes."""
        self._leaving.set()
        control.close_all(self._sessions, self._process, isinstance(self._target, ReplayRequest))

    def _status(self, phase: Phase, text: str) -> None:
        self.query_one("#status", StatusLine).show(phase, text)

