"""What the orchestrator and the Spark scripts say to each other, defined once for both sides.

Check names and flags, row rules, column naming and types, the job arguments and the records a
script reports back. Standard library only: the package ships to AWS Glue beside the scripts (in
``--extra-py-files``), where neither Dagster nor the platform's other dependencies exist.
"""
