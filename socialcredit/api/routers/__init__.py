"""One router per surface: public, furnishers, inquirers, integrators, subjects, operators,
health."""
