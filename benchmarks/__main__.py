import sys

if sys.argv[1:2] == ["results"]:  # python -m benchmarks results: the results table
    from benchmarks.results import main

    raise SystemExit(main(sys.argv[2:]))

from benchmarks.run import main

raise SystemExit(main())
