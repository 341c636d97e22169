"""The family as a participant (guardians and the young person): their sign-in and sessions
(``sessions``), the invitations that link them to a case (``invitations``) and what they see
(``view``). Every family read and write is audited with ``channel = "family"``."""
