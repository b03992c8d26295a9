"""The debugger's blocking side: the replay child process and DAP calls composed for
the screen. Nothing here imports Textual; the debugger screen runs these functions in
thread workers and turns their results into messages.
"""
