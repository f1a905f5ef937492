"""Views of a transfer's events (see `rawhttp.events`): each turns events into text for a user."""
