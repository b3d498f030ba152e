"""One router per v1 endpoint; api/routes.py gathers them."""
