"""How often each category occurs, what its amounts look like, and how often it is followed up.

Rates are *originals per eligible subject over the whole ~6-year window*: ``person`` per adult,
``org`` per organisation. ``finance.loan_repaid`` has no rate: it is the bulk that fills the row
budget (``--records``), and ``registration.basic`` is exactly one row per organisation. Real
figures are national and often cumulative; the rates below keep their order of magnitude and are
boosted where a demo of 100k persons would otherwise show almost nothing. Follow-up shares are the
part of originals later ``fulfil``-ed, ``revoke``-d or ``amend``-ed by a row with the same
record_id and a later decided_on.
"""

from __future__ import annotations

from dataclasses import dataclass

# Share of generated persons who are minors (10-17), only to exercise the no-minors rule.
MINOR_SHARE = 0.02
# Adult age bands (years, inclusive) and their weights: the 2020 census in millions, roughly.
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (18, 24, 105.0),
    (25, 34, 220.0),
    (35, 44, 190.0),
    (45, 54, 230.0),
    (55, 64, 175.0),
    (65, 74, 120.0),
    (75, 85, 55.0),
)
# Persons in deliberate same-name pairs (two people, one hanzi name): ~1 % of persons.
SAME_NAME_SHARE = 0.01
# Share of those pairs where exactly one of the two has adverse records (the review-queue trap).
ONE_ADVERSE_PAIR_SHARE = 0.2
# Records span this many days back from the as-of date.
WINDOW_DAYS = 6 * 365
# Share of adults and orgs that borrow, i.e. carry the finance.loan_repaid bulk (PBOC's credit
# reference centre holds files on 1.14 billion persons, i.e. practically every adult).
BORROWER_SHARE_PERSON = 0.85
BORROWER_SHARE_ORG = 0.7
# Exact re-sent duplicate rows, as a share of all rows.
DUPLICATE_SHARE = 0.001


@dataclass(frozen=True, slots=True)
class Rate:
    person: float = 0.0
    org: float = 0.0
    amount: tuple[float, float] | None = None  # median yuan for (person, org); None: no amount
    furnisher_weights: tuple[float, ...] | None = None  # aligned with the catalogue's furnishers
    fulfil: float = 0.0
    revoke: float = 0.0
    amend: float = 0.0


RATES: dict[str, Rate] = {
    # Deregistrations: ~4M of ~50M market entities a year leave the register; a few % over 6 years
    # of records kept here (most deregistered entities have no other records).
    "registration.deregistered": Rate(org=0.02),
    # SPC list: ~8M persons listed of ~1.1B adults (0.7 %), x2 for the demo; ~1M of ~50M
    # entities (2 %). Fulfilment: >18M fulfilled since 2013 against ~15M listed at the peak.
    "court.dishonest_defaulter": Rate(
        person=0.015, org=0.02, amount=(80_000, 600_000), fulfil=0.35, revoke=0.02, amend=0.06
    ),
    # Consumption restrictions are issued more often than listings (every defaulter plus
    # debtors who are not dishonest): ~1.3x the defaulter rate.
    "court.consumption_restriction": Rate(person=0.02, org=0.025, fulfil=0.3, revoke=0.02),
    # ~9-10M new enforcement cases a year nationally, 1 % of adults a year, 6 years -> ~5 %.
    "court.enforcement_case": Rate(person=0.04, org=0.05, amount=(50_000, 400_000), fulfil=0.5),
    # Fraud convictions: ~100k a year nationally (0.01 %), x10 so a demo has some.
    "court.fraud_conviction": Rate(person=0.001, org=0.0005, revoke=0.01),
    # Most enterprises hold an administrative licence; few persons need one (e.g. food stalls).
    "admin.licence_granted": Rate(person=0.05, org=0.8, furnisher_weights=(0.6, 0.2, 0.2)),
    # Minor penalties: millions a year from market, tax, ecology and safety regulators.
    "admin.penalty_minor": Rate(
        person=0.03,
        org=0.15,
        amount=(500, 5_000),
        furnisher_weights=(0.45, 0.25, 0.15, 0.15),
        fulfil=0.3,
        revoke=0.02,
        amend=0.02,
    ),
    # General penalties: roughly half as frequent as minor ones.
    "admin.penalty_general": Rate(
        person=0.01,
        org=0.08,
        amount=(5_000, 50_000),
        furnisher_weights=(0.45, 0.25, 0.15, 0.15),
        fulfil=0.3,
        revoke=0.02,
        amend=0.02,
    ),
    # Serious penalties (large fines, licence revocation): about a tenth of general ones.
    "admin.penalty_serious": Rate(
        person=0.002,
        org=0.02,
        amount=(50_000, 500_000),
        furnisher_weights=(0.45, 0.25, 0.15, 0.15),
        revoke=0.03,
    ),
    # Work-safety penalties: a few hundred thousand a year over tens of millions of entities.
    "safety.production_penalty": Rate(org=0.01, amount=(0, 100_000), fulfil=0.3),
    # Environmental penalty decisions: ~100k+ a year, concentrated on regulated emitters.
    "env.pollution_penalty": Rate(org=0.01, amount=(0, 200_000), fulfil=0.3),
    # Vocational qualification certificates: tens of millions issued; ~1 in 6 adults holds one.
    "professional.qualification": Rate(person=0.15),
    # Revocations of qualifications are rare (fraudulent certificates, malpractice).
    "professional.qualification_revoked": Rate(person=0.001, revoke=0.05),
    # Abnormal-operations list: ~5-6M entities at a time of ~50M (~10 %); 6 % here.
    "market.abnormal_operation": Rate(org=0.06, fulfil=0.4),
    # Severe illegal-dishonesty list (SAMR): a few hundred thousand entities.
    "market.serious_illegal": Rate(org=0.005, revoke=0.02),
    # Major tax violations: tens of thousands of cases a year, mostly companies.
    "tax.major_violation": Rate(person=0.0005, org=0.005, amount=(200_000, 2_000_000), revoke=0.02),
    # Tax arrears announcements: a few % of taxpaying entities; half are paid later.
    "tax.arrears": Rate(person=0.005, org=0.04, amount=(20_000, 150_000), fulfil=0.5, amend=0.05),
    # Grade A: ~10 % of assessed taxpayers each year, one row per annual evaluation.
    "tax.grade_a": Rate(org=0.4),
    # Severe wage-arrears list: thousands of entities a year (x10 for the demo).
    "labor.wage_arrears": Rate(org=0.005, amount=(0, 300_000), fulfil=0.4),
    # Procurement debarments: thousands a year on ccgp.gov.cn.
    "procurement.debarment": Rate(person=0.0005, org=0.005, revoke=0.03),
    # Public contract breaches: about twice the debarments.
    "contract.public_contract_breach": Rate(org=0.01, amount=(0, 1_000_000), fulfil=0.3),
    # Loan defaults: NPL ratio ~1.6 % of loans; a few % of borrowers default over 6 years.
    "finance.loan_default": Rate(person=0.03, org=0.03, amount=(80_000, 2_000_000), fulfil=0.3),
    # Credit commitments: required for many approvals, so common for orgs, rare for persons.
    "commitment.made": Rate(person=0.02, org=0.5, furnisher_weights=(0.5, 0.3, 0.2)),
    # Breached commitments: ~2 % of commitments.
    "commitment.breached": Rate(person=0.001, org=0.01, furnisher_weights=(0.7, 0.3)),
    # "Contract-abiding and trustworthy" enterprises: tens of thousands recognised.
    "honor.contract_abiding": Rate(org=0.03),
    # Honour roll of trustworthy models: rare.
    "honor.trustworthy_model": Rate(person=0.005, org=0.01),
    # Voluntarily declared information (annual reports, certifications): common for orgs.
    "voluntary.self_declared": Rate(org=0.1),
}
# finance.loan_repaid amounts (the bulk): consumer and business loans, median yuan (person, org).
LOAN_REPAID_AMOUNT = (50_000.0, 1_000_000.0)
# Spread of every amount: log-normal sigma (a few orders of magnitude between small and large).
AMOUNT_SIGMA = 1.0
# Grounds of dishonest-defaulter listings; ~30 % have ability_refusal (no fixed term).
GROUND_WEIGHTS: dict[str, float] = {
    "ability_refusal": 0.30,
    "evasion": 0.25,
    "consumption_violation": 0.15,
    "obstruction": 0.10,
    "false_report": 0.10,
    "settlement_refusal": 0.08,
    "sham_litigation": 0.02,
}
# Share of termed defaulter listings filed with an extension already (up to 36 months).
EXTENSION_SHARE = 0.1
