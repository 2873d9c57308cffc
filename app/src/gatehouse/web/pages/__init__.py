"""The pages end users see: sign-in, sign-out, home."""
