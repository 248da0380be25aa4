"""The web pages `complaints serve` renders: the staff console and the customer pages
(`customer.py`, under /c/)."""
