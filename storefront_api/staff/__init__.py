"""Staff accounts: admins, merchants and support agents; their sign-in and sessions."""
