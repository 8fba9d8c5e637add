# isol8 session kernel for Python (docs/sessions.md, docs/agent-protocol.md).
#
# One long-lived interpreter per session: every run executes in the same
# __main__ namespace, so variables, functions, imports and the working
# directory persist between runs. The agent starts it as the sandbox user
# with fd 3 (requests) and fd 4 (replies); fds 1 and 2 are the agent's
# output pipes for the kernel's whole life.
#
# A request is NUL-terminated fields: "R", the run's nonce, the stdin
# path, argc, argv[0..argc), envc, env[0..envc), secretc, the names of the
# secrets among env (unset after the run); or "P" and a nonce, the agent's
# idle check. argv[1] is the code file, argv[2:] its arguments. Replies:
# "S <nonce>\n" once stdin is open, "D <nonce> <exit code>\n" when the run
# is over, "I <nonce>\n" to an idle check. The agent judges every reply:
# code that writes fd 4 itself gets this interpreter ended.
import builtins
import importlib
import io
import os
import site
import sys
import traceback
import types

CTL, REPLY = 3, 4


def serve():
    os.set_inheritable(CTL, False)
    os.set_inheritable(REPLY, False)
    out_fd, err_fd = os.dup(1), os.dup(2)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    pending = bytearray()

    def field():
        while True:
            i = pending.find(b"\0")
            if i >= 0:
                value = bytes(pending[:i])
                del pending[: i + 1]
                return os.fsdecode(value)
            chunk = os.read(CTL, 65536)
            if not chunk:
                os._exit(0)  # the agent is gone
            pending.extend(chunk)

    def stream(fd, mode):
        f = io.FileIO(fd, mode, closefd=False)
        if mode == "r":
            return io.TextIOWrapper(io.BufferedReader(f), encoding="utf-8")
        return io.TextIOWrapper(f, encoding="utf-8", write_through=True,
                                errors="backslashreplace" if fd == 2 else
                                "strict")

    def exit_code(e):
        if e.code is None:
            return 0
        if isinstance(e.code, int):
            return e.code & 0xFF
        print(e.code, file=sys.stderr)
        return 1

    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    while True:
        kind, nonce = field(), field().encode()
        if kind == "P":
            os.write(REPLY, b"I %s\n" % nonce)
            continue
        stdin_path = field()
        argv = [field() for _ in range(int(field()))]
        env = [field() for _ in range(int(field()))]
        secrets = [field() for _ in range(int(field()))]
        for kv in env:
            key, _, value = kv.partition("=")
            os.environ[key] = value
        fd = os.open(stdin_path, os.O_RDONLY)
        os.dup2(fd, 0)
        os.close(fd)
        # Whatever the last run did to its streams, this one gets fresh ones.
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        sys.stdin, sys.stdout, sys.stderr = (
            stream(0, "r"), stream(1, "w"), stream(2, "w"))
        os.write(REPLY, b"S %s\n" % nonce)

        code = 0
        path = argv[1]
        sys.argv = argv[1:]
        sys.path[0] = os.path.dirname(path)
        # Packages installed since this interpreter started (isol8 run
        # --install) are in a user site that may not have existed then.
        if os.path.isdir(site.getusersitepackages()):
            site.addsitedir(site.getusersitepackages())
        importlib.invalidate_caches()
        main.__dict__["__file__"] = path
        try:
            with open(path, "rb") as f:
                source = f.read()
            exec(compile(source, path, "exec"), main.__dict__)
        except SystemExit as e:
            code = exit_code(e)
        except BaseException as e:
            code = 130 if isinstance(e, KeyboardInterrupt) else 1
            try:  # without this kernel's own frame
                traceback.print_exception(type(e), e, e.__traceback__.tb_next)
            except Exception:
                pass
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except Exception:
                pass
        os.dup2(null_fd, 0)
        for key in secrets:  # a secret is the run's, not the session's
            os.environ.pop(key, None)
        os.write(REPLY, b"D %s %d\n" % (nonce, code))


serve()
