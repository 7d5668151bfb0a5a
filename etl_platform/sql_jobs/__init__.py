"""The SQL engine's processing of a landing file: one SQL text (a SELECT over ``typed_input``)
run on DuckDB locally and on Athena on AWS, under the same contract as a Spark script: the same
vetting, typing and reject rules, the same checks and the same records reported.

Engine-neutral SQL lives here; the differences between DuckDB and Athena (Trino) are in
``dialect``; the engines themselves (``resources.sql``, ``resources.athena``) implement ``SqlRunner``.
"""
