from migration_harness.cli import main

raise SystemExit(main())
