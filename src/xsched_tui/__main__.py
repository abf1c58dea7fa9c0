from xsched_tui.cli import main

raise SystemExit(main())
