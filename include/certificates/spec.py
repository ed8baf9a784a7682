"""What the ``certificate_dispatch`` DAG file needs at parse time. Nothing here opens a connection."""

DAG_ID = "certificate_dispatch"
TEMPLATES = ("default",)  # certificate layouts the ``template`` param may name
