from xsched_tui.workloads.cli import main

raise SystemExit(main())
