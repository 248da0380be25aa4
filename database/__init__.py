"""PostgreSQL: the pool, the migrations (`migrations/*.sql`) and the seed loader (`pool`), and
the tables that the activities and the client side (starter/, workers/) share: API keys,
console sign-in, the records a complaint is about, past complaints for the what-if, the email
channel's mailbox, erasure and the worker's gauges. No Temporal here: these are plain
functions over a connection, so the CLI, the API and the activities call the same code."""
