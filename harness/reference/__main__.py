from harness.reference.cli import main

raise SystemExit(main())
