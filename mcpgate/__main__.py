from mcpgate.doors.cli import main

raise SystemExit(main())
