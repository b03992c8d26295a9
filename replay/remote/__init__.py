"""Moving captures over SSH, and reaching a debugger on a remote machine.

- `url`: `sftp://` store URLs and SSH targets (standard library only, so asking
  "is this store remote?" costs nothing).
- `options`: how to connect (keys, known_hosts, trust on first use) and its CLI flags.
- `ssh`: one verified paramiko connection from a target or an `~/.ssh/config` alias.
- `sftp`, `sftp_jobs`: a pipelined SFTP client over that connection, and the
  operations it runs (downloads, uploads, listings).
- `sftp_store`: a capture store laid out like `replay.store.LocalStore`, on a server.
- `transfer`: `fetch` and `push`, content-addressed, verified and resumable.
- `progress`: transfer counts and the terminal progress bar.
- `tunnel`: a local port forward, like `ssh -L`.
- `errors`: what goes wrong, translated from paramiko and sockets in one place.

paramiko is imported only by `ssh` and what builds on it; a fetch from a folder and
the capture agent's success path never load it.
"""
