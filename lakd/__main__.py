import sys

if sys.argv[1:2] == ["worker"]:
    # the background worker only watches run folders: it skips the CLI's training imports,
    # so a launch from the app waits less for it to start
    from .worker import main as worker_main

    sys.exit(worker_main(sys.argv[2:]))

from .cli import main  # noqa: E402
from .distributed import shutdown  # noqa: E402

code = main()
shutdown()  # leaves torchrun's process group cleanly; nothing to do in a single process
sys.exit(code)
