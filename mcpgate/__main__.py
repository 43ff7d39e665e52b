from mcpgate.cli import main

raise SystemExit(main())
