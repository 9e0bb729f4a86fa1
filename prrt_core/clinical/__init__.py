"""Clinical rules on the store's tables: CTCAE toxicity, RECIST response, Kaplan-Meier survival,
salvage eligibility, and the treatment-date conventions they share (``dates``)."""
