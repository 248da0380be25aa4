"""The email channel's pure helpers: reading an inbound message (`parsing`) and the signed,
expiring customer links (`links`). No I/O: the mail gateway, the customer pages and the
email activities use them alike."""
