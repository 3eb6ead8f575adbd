"""Reference data for the demo extract: population structure, places and code lists with frequencies.

Everything here is plain data (tuples of constants), so that a change in a frequency is a one-line
diff. The numbers are rounded but realistic:

* ``AGE_BANDS``: Norway's population by 5-year age band (Statistics Norway, 1 January 2024, in
  thousands) with the share of men per band;
* ``MUNICIPALITIES``: the real municipality numbers of Trøndelag (50xx) and Møre og Romsdal (15xx),
  the catchment of Helse Midt-Norge, weighted by population (2024, rounded);
* ICD-10 code lists per department, per chronic condition and for general comorbidity, each entry
  ``(code, weight, sex, min_age, max_age)`` where ``sex`` is ``"F"``, ``"M"`` or ``None`` and the
  ages are inclusive years at the time of the event;
* ATC drug lists per therapeutic category ``(code, weight, typical DDD per dispensing)``;
* NPU laboratory analyses with their units and value distributions.

ICD-10 codes are written without the dot (``E119`` for E11.9), as in Norwegian patient registers.
The NPU codes NPU27300, NPU02192, NPU18016, NPU19748, NPU02593, NPU02319, NPU03429 and NPU03230 are the
real codes of those analyses; the remaining ones are plausible codes of the same form.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "AGE_BANDS",
    "ANALYSES",
    "CARE_TYPES",
    "CONDITIONS",
    "DEPARTMENTS",
    "DRUG_CATEGORIES",
    "MUNICIPALITIES",
    "URGENCIES",
    "Analysis",
    "Condition",
    "DrugCategory",
]

# fmt: off
# --------------------------------------------------------------------------------------------------
# Population
# --------------------------------------------------------------------------------------------------

#: (lowest age in the band, population in thousands, share of men). Bands are 5 years wide.
AGE_BANDS: tuple[tuple[int, float, float], ...] = (
    (0, 273, 0.513),
    (5, 296, 0.513),
    (10, 324, 0.513),
    (15, 333, 0.514),
    (20, 349, 0.515),
    (25, 369, 0.514),
    (30, 384, 0.513),
    (35, 383, 0.512),
    (40, 370, 0.512),
    (45, 367, 0.511),
    (50, 378, 0.510),
    (55, 365, 0.508),
    (60, 328, 0.505),
    (65, 293, 0.497),
    (70, 272, 0.490),
    (75, 222, 0.475),
    (80, 137, 0.445),
    (85, 73, 0.405),
    (90, 33, 0.340),
    (95, 9, 0.260),
    (100, 1.2, 0.200),
)

#: (municipality number, name, population). Trøndelag and Møre og Romsdal, 2024.
MUNICIPALITIES: tuple[tuple[str, str, int], ...] = (
    ("5001", "Trondheim", 214_600),
    ("5006", "Steinkjer", 24_100),
    ("5007", "Namsos", 15_400),
    ("5014", "Frøya", 5_300),
    ("5020", "Osen", 930),
    ("5021", "Oppdal", 7_100),
    ("5022", "Rennebu", 2_450),
    ("5025", "Røros", 5_600),
    ("5026", "Holtålen", 2_000),
    ("5027", "Midtre Gauldal", 6_400),
    ("5028", "Melhus", 17_200),
    ("5029", "Skaun", 8_700),
    ("5031", "Malvik", 14_600),
    ("5032", "Selbu", 4_200),
    ("5033", "Tydal", 780),
    ("5034", "Meråker", 2_400),
    ("5035", "Stjørdal", 24_900),
    ("5036", "Frosta", 2_650),
    ("5037", "Levanger", 20_500),
    ("5038", "Verdal", 15_100),
    ("5041", "Snåsa", 2_050),
    ("5042", "Lierne", 1_300),
    ("5043", "Røyrvik", 470),
    ("5044", "Namsskogan", 850),
    ("5045", "Grong", 2_350),
    ("5046", "Høylandet", 1_250),
    ("5047", "Overhalla", 3_900),
    ("5049", "Flatanger", 1_100),
    ("5052", "Leka", 560),
    ("5053", "Inderøy", 6_900),
    ("5054", "Indre Fosen", 10_100),
    ("5055", "Heim", 5_900),
    ("5056", "Hitra", 5_200),
    ("5057", "Ørland", 10_600),
    ("5058", "Åfjord", 4_300),
    ("5059", "Orkland", 18_800),
    ("5060", "Nærøysund", 9_800),
    ("5061", "Rindal", 2_000),
    ("1505", "Kristiansund", 24_500),
    ("1506", "Molde", 32_500),
    ("1508", "Ålesund", 59_000),
    ("1511", "Vanylven", 3_100),
    ("1514", "Sande", 2_400),
    ("1515", "Herøy", 9_000),
    ("1516", "Ulstein", 8_700),
    ("1517", "Hareid", 5_200),
    ("1520", "Ørsta", 10_900),
    ("1525", "Stranda", 4_500),
    ("1528", "Sykkylven", 7_600),
    ("1531", "Sula", 9_700),
    ("1532", "Giske", 8_600),
    ("1535", "Vestnes", 6_700),
    ("1539", "Rauma", 7_400),
    ("1547", "Aukra", 3_600),
    ("1554", "Averøy", 5_900),
    ("1557", "Gjemnes", 2_600),
    ("1560", "Tingvoll", 3_000),
    ("1563", "Sunndal", 7_000),
    ("1566", "Surnadal", 5_800),
    ("1573", "Smøla", 2_100),
    ("1576", "Aure", 3_500),
    ("1577", "Volda", 10_800),
    ("1578", "Fjord", 2_500),
    ("1579", "Hustadvika", 13_400),
    ("1580", "Haram", 9_400),
)

# --------------------------------------------------------------------------------------------------
# Episodes
# --------------------------------------------------------------------------------------------------

#: The contract's allowed values, in a fixed order (indices are used in the generator).
DEPARTMENTS: tuple[str, ...] = (
    "MED", "SUR", "ORT", "CAR", "NEU", "ONC", "PED", "OBS", "PSY", "GER", "EMR", "REH",
)
CARE_TYPES: tuple[str, ...] = ("inpatient", "outpatient", "day")
URGENCIES: tuple[str, ...] = ("elective", "emergency")

#: Base department weights for adults per care type (same order as DEPARTMENTS). EMR is used for
#: emergency outpatient contacts only; PED for children only; OBS for women of 15-55 only.
DEPARTMENT_WEIGHTS: dict[str, tuple[float, ...]] = {
    #            MED  SUR  ORT  CAR  NEU  ONC  PED  OBS  PSY  GER  EMR  REH
    "inpatient": (30, 14, 10, 10, 6, 5, 0, 7, 4, 6, 0, 2),
    "outpatient": (16, 10, 12, 8, 7, 8, 0, 8, 10, 2, 0, 3),
    "day": (15, 20, 10, 8, 4, 25, 0, 6, 3, 1, 0, 4),
}
#: Department weights for children (< 18 years), whatever the care type.
CHILD_DEPARTMENT_WEIGHTS: tuple[float, ...] = (0, 4, 4, 0, 1, 0, 40, 1, 3, 0, 0, 0.5)

# --------------------------------------------------------------------------------------------------
# Diagnoses (ICD-10, no dot). Entries: (code, weight, sex, min_age, max_age)
# --------------------------------------------------------------------------------------------------

CodeEntry = tuple[str, float, "str | None", int, int]
_ANY = 200

#: Main diagnoses by department.
MAIN_DIAGNOSES: dict[str, tuple[CodeEntry, ...]] = {
    "MED": (
        ("J189", 10, None, 0, _ANY), ("N390", 6, None, 0, _ANY), ("A419", 4, None, 0, _ANY),
        ("D649", 3, None, 0, _ANY), ("E871", 2, None, 18, _ANY), ("K922", 2, None, 18, _ANY),
        ("R55", 3, None, 0, _ANY), ("E86", 2, None, 0, _ANY), ("I269", 2, None, 18, _ANY),
        ("J960", 1, None, 18, _ANY), ("K297", 2, None, 18, _ANY), ("R069", 2, None, 0, _ANY),
    ),
    "SUR": (
        ("K359", 8, None, 5, 84), ("K802", 7, None, 18, _ANY), ("K409", 6, None, 0, _ANY),
        ("K566", 3, None, 18, _ANY), ("K572", 4, None, 40, _ANY), ("C189", 3, None, 40, _ANY),
        ("K810", 4, None, 18, _ANY), ("R104", 6, None, 0, _ANY), ("T814", 1, None, 18, _ANY),
        ("K610", 2, None, 18, _ANY),
    ),
    "ORT": (
        ("S720", 8, None, 60, _ANY), ("S525", 6, None, 5, _ANY), ("M161", 6, None, 45, _ANY),
        ("M171", 6, None, 45, _ANY), ("S822", 3, None, 5, _ANY), ("S826", 5, None, 5, _ANY),
        ("M545", 4, None, 18, _ANY), ("S422", 3, None, 5, _ANY), ("M751", 3, None, 30, _ANY),
        ("T840", 1, None, 50, _ANY), ("S832", 3, None, 12, 69),
    ),
    "CAR": (
        ("I214", 6, None, 30, _ANY), ("I210", 3, None, 30, _ANY), ("I200", 4, None, 30, _ANY),
        ("I480", 7, None, 30, _ANY), ("I500", 6, None, 40, _ANY), ("I251", 5, None, 35, _ANY),
        ("R074", 8, None, 18, _ANY), ("I350", 2, None, 60, _ANY), ("I471", 2, None, 0, _ANY),
        ("I442", 1, None, 50, _ANY),
    ),
    "NEU": (
        ("I639", 8, None, 40, _ANY), ("G459", 5, None, 40, _ANY), ("G409", 5, None, 0, _ANY),
        ("G35", 3, None, 18, 69), ("G20", 3, None, 50, _ANY), ("G439", 4, None, 12, 69),
        ("R51", 4, None, 5, _ANY), ("I619", 2, None, 40, _ANY), ("G610", 1, None, 18, _ANY),
    ),
    "ONC": (
        ("C509", 10, "F", 25, _ANY), ("C509", 0.1, "M", 40, _ANY), ("C61", 8, "M", 45, _ANY),
        ("C189", 6, None, 40, _ANY), ("C349", 7, None, 40, _ANY), ("C439", 4, None, 20, _ANY),
        ("C64", 2, None, 40, _ANY), ("C679", 2, None, 45, _ANY), ("C259", 2, None, 45, _ANY),
        ("C719", 1, None, 0, _ANY), ("C911", 1, None, 50, _ANY), ("C833", 1, None, 20, _ANY),
        ("C56", 2, "F", 30, _ANY), ("C541", 2, "F", 40, _ANY), ("Z511", 10, None, 18, _ANY),
    ),
    "PED": (
        ("J210", 6, None, 0, 2), ("J069", 8, None, 0, 17), ("A099", 7, None, 0, 17),
        ("R509", 6, None, 0, 17), ("J189", 4, None, 0, 17), ("J459", 4, None, 2, 17),
        ("P599", 3, None, 0, 0), ("S060", 3, None, 0, 17),
        ("K590", 3, None, 0, 17), ("F900", 3, None, 5, 17), ("L209", 2, None, 0, 17),
        ("H669", 3, None, 0, 11),
    ),
    "OBS": (
        ("O800", 12, "F", 15, 49), ("O820", 3, "F", 15, 49), ("O021", 2, "F", 15, 49),
        ("O200", 2, "F", 15, 49), ("O470", 3, "F", 15, 49), ("O244", 2, "F", 15, 49),
        ("O140", 2, "F", 15, 49), ("O420", 2, "F", 15, 49), ("O600", 1, "F", 15, 49),
        ("N939", 2, "F", 15, 54), ("D259", 2, "F", 25, _ANY), ("N832", 2, "F", 15, _ANY),
    ),
    "PSY": (
        ("F329", 8, None, 12, _ANY), ("F332", 5, None, 16, _ANY), ("F200", 4, None, 16, _ANY),
        ("F102", 4, None, 16, _ANY), ("F411", 5, None, 12, _ANY), ("F431", 3, None, 6, _ANY),
        ("F609", 2, None, 18, _ANY), ("F311", 3, None, 15, _ANY), ("F500", 1, None, 10, 39),
        ("F840", 1, None, 2, 17), ("F900", 2, None, 5, _ANY),
    ),
    "GER": (
        ("F03", 5, None, 65, _ANY), ("J189", 8, None, 65, _ANY), ("N390", 7, None, 65, _ANY),
        ("R268", 3, None, 65, _ANY), ("S720", 4, None, 65, _ANY), ("I500", 5, None, 65, _ANY),
        ("E86", 4, None, 65, _ANY), ("R410", 3, None, 65, _ANY), ("F051", 3, None, 65, _ANY),
        ("I639", 2, None, 65, _ANY), ("R296", 2, None, 65, _ANY),
    ),
    "EMR": (
        ("R074", 6, None, 18, _ANY), ("R104", 6, None, 0, _ANY), ("S060", 4, None, 0, _ANY),
        ("S610", 3, None, 2, _ANY), ("T149", 5, None, 0, _ANY), ("S934", 5, None, 5, _ANY),
        ("J069", 3, None, 0, _ANY), ("R51", 3, None, 5, _ANY), ("R55", 3, None, 10, _ANY),
        ("N390", 3, None, 0, _ANY), ("L030", 2, None, 0, _ANY), ("T784", 2, None, 0, _ANY),
        ("R509", 3, None, 0, _ANY),
    ),
    "REH": (
        ("Z508", 4, None, 0, _ANY), ("Z509", 2, None, 0, _ANY), ("I693", 4, None, 40, _ANY),
        ("S720", 2, None, 60, _ANY), ("G35", 1, None, 18, _ANY), ("T905", 2, None, 5, _ANY),
        ("M545", 2, None, 18, _ANY), ("G822", 1, None, 10, _ANY), ("M797", 2, None, 18, _ANY),
    ),
}

#: Secondary diagnoses not tied to a chronic condition of the patient (comorbidity, findings, Z-codes).
GENERAL_DIAGNOSES: tuple[CodeEntry, ...] = (
    ("E785", 6, None, 30, _ANY), ("E039", 3, "F", 18, _ANY), ("E039", 1, "M", 18, _ANY),
    ("K219", 4, None, 18, _ANY), ("M545", 3, None, 18, _ANY), ("E669", 4, None, 18, _ANY),
    ("Z921", 2, None, 50, _ANY), ("D649", 3, None, 18, _ANY), ("N390", 2, None, 18, _ANY),
    ("F101", 2, None, 18, _ANY), ("J459", 3, None, 2, _ANY), ("R739", 1, None, 18, _ANY),
    ("Z880", 2, None, 0, _ANY), ("E559", 2, None, 18, _ANY), ("G473", 2, None, 30, _ANY),
    ("M810", 3, "F", 50, _ANY), ("M810", 0.5, "M", 60, _ANY), ("N40", 3, "M", 50, _ANY),
    ("L209", 3, None, 0, 17), ("F900", 2, None, 5, 29), ("R509", 2, None, 0, 17),
    ("K590", 2, None, 0, 17), ("H669", 3, None, 0, 11), ("Z380", 1, None, 0, 0),
)

#: Fallback diagnosis when no code of a list fits a patient's sex and age.
FALLBACK_DIAGNOSIS = "R69"


class Condition(NamedTuple):
    """A chronic condition: prevalence by age, the codes it is registered with, its drug category."""

    name: str
    #: logistic prevalence: ``top / (1 + exp(-(age - mid) / scale))``, zero below ``min_age``
    top: float
    mid: float
    scale: float
    min_age: int
    #: relative risk for men (women have 1)
    male_rr: float
    codes: tuple[CodeEntry, ...]
    #: weight of this condition when a prescription is drawn
    drug_weight: float
    #: relative rate of laboratory analyses (index into ANALYSES by code -> multiplier)
    lab_boost: tuple[tuple[str, float], ...] = ()


CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "diabetes_type2", 0.17, 62, 9, 25, 1.25,
        (("E119", 40, None, 25, _ANY), ("E118", 8, None, 25, _ANY), ("E116", 6, None, 25, _ANY),
         ("E115", 5, None, 25, _ANY), ("E113", 5, None, 25, _ANY), ("E112", 6, None, 25, _ANY),
         ("E114", 4, None, 25, _ANY)),
        3.0, (("NPU27300", 8.0), ("NPU02192", 2.5), ("NPU18016", 1.5)),
    ),
    Condition(
        "diabetes_type1", 0.006, 10, 3, 1, 1.2,
        (("E109", 40, None, 1, _ANY), ("E103", 8, None, 1, _ANY), ("E102", 6, None, 1, _ANY),
         ("E101", 2, None, 1, _ANY), ("E106", 4, None, 1, _ANY)),
        4.0, (("NPU27300", 8.0), ("NPU02192", 3.0)),
    ),
    Condition(
        "hypertension", 0.55, 62, 10, 20, 1.05, (("I10", 1, None, 20, _ANY),),
        2.0, (("NPU18016", 1.5), ("NPU03230", 1.5), ("NPU03429", 1.3)),
    ),
    Condition(
        "ischaemic_heart_disease", 0.20, 72, 8, 30, 1.6,
        (("I251", 5, None, 30, _ANY), ("I259", 3, None, 30, _ANY), ("I252", 2, None, 30, _ANY),
         ("I209", 2, None, 30, _ANY)),
        2.0,
    ),
    Condition(
        "atrial_fibrillation", 0.16, 76, 7, 30, 1.3,
        (("I480", 3, None, 30, _ANY), ("I481", 3, None, 30, _ANY), ("I489", 4, None, 30, _ANY)),
        2.0,
    ),
    Condition(
        "heart_failure", 0.12, 80, 7, 30, 1.2,
        (("I500", 5, None, 30, _ANY), ("I509", 3, None, 30, _ANY), ("I501", 1, None, 30, _ANY)),
        1.5, (("NPU18016", 1.5), ("NPU03429", 1.5), ("NPU03230", 1.5)),
    ),
    Condition(
        "copd", 0.12, 68, 8, 35, 1.0,
        (("J449", 6, None, 35, _ANY), ("J441", 2, None, 35, _ANY), ("J440", 1, None, 35, _ANY)),
        1.5, (("NPU19748", 1.5),),
    ),
    Condition(
        "depression", 0.09, 25, 5, 12, 0.6,
        (("F329", 5, None, 12, _ANY), ("F321", 3, None, 12, _ANY), ("F330", 2, None, 12, _ANY),
         ("F331", 2, None, 12, _ANY)),
        1.5,
    ),
    Condition(
        "chronic_kidney_disease", 0.10, 76, 8, 18, 1.2,
        (("N183", 4, None, 18, _ANY), ("N184", 2, None, 18, _ANY), ("N185", 1, None, 18, _ANY),
         ("N189", 2, None, 18, _ANY)),
        0.7, (("NPU18016", 3.0), ("NPU27158", 4.0), ("NPU03230", 1.5), ("NPU02319", 1.5)),
    ),
    Condition(
        "cancer", 0.12, 68, 10, 18, 1.1,
        # registered by site (see CANCER_SITES); this list is unused except for its minimum age
        (("C809", 1, None, 18, _ANY),),
        1.0, (("NPU02319", 1.5), ("NPU02593", 1.5), ("NPU19748", 1.3)),
    ),
)

#: Cancer sites by sex: (code, weight). A patient with cancer has one site.
CANCER_SITES: dict[str, tuple[tuple[str, float], ...]] = {
    "F": (("C509", 45), ("C189", 15), ("C349", 15), ("C439", 12), ("C541", 8), ("C56", 5)),
    "M": (("C61", 45), ("C189", 15), ("C349", 15), ("C439", 10), ("C679", 8), ("C64", 7)),
}

# --------------------------------------------------------------------------------------------------
# Prescriptions (ATC). Drug entries: (ATC code, weight, typical DDD per dispensing)
# --------------------------------------------------------------------------------------------------


class DrugCategory(NamedTuple):
    """A therapeutic category of dispensings, open to one sex and an age range at dispensing."""

    name: str
    drugs: tuple[tuple[str, float, float], ...]
    sex: str | None = None
    min_age: int = 0
    max_age: int = _ANY


DRUG_CATEGORIES: tuple[DrugCategory, ...] = (
    DrugCategory("general_child", (
        ("J01CE02", 6, 7), ("J01CA04", 8, 7), ("N02BE01", 8, 10), ("R06AE07", 3, 30),
        ("R03AC02", 3, 30), ("D07AB02", 2, 15), ("N06BA04", 2, 30), ("A06AD65", 2, 20),
    ), max_age=15),
    DrugCategory("general_adult", (
        ("N02BE01", 10, 20), ("M01AE01", 6, 20), ("J01CE02", 8, 7), ("J01CA04", 4, 7),
        ("J01EA01", 4, 5), ("J01FA09", 2, 7), ("A02BC05", 6, 56), ("A02BC01", 3, 56),
        ("H03AA01", 4, 100), ("N05CF01", 5, 30), ("N02AA05", 2, 10), ("N02AJ06", 4, 15),
        ("R06AE07", 4, 30), ("H02AB06", 3, 20), ("N05BA04", 2, 15), ("D07AC01", 2, 30),
    ), min_age=16),
    DrugCategory("diabetes_type2", (
        ("A10BA02", 40, 90), ("A10BK01", 10, 98), ("A10BK03", 12, 90), ("A10BJ06", 8, 28),
        ("A10BJ02", 4, 30), ("A10BH01", 6, 98), ("A10AE04", 6, 50), ("A10BB12", 3, 90),
    ), min_age=25),
    DrugCategory("diabetes_type1", (
        ("A10AB05", 30, 50), ("A10AE04", 20, 50), ("A10AE05", 8, 50), ("A10AB04", 10, 50),
        ("A10AE06", 10, 50),
    ), min_age=1),
    DrugCategory("hypertension", (
        ("C09AA05", 10, 100), ("C09CA01", 15, 98), ("C09CA06", 8, 98), ("C08CA01", 20, 100),
        ("C07AB02", 10, 100), ("C03AA03", 4, 100), ("C09DA01", 5, 98),
    ), min_age=20),
    DrugCategory("ischaemic_heart_disease", (
        ("C10AA05", 25, 100), ("C10AA01", 15, 100), ("C10AA07", 5, 100), ("B01AC06", 20, 100),
        ("B01AC04", 6, 90), ("B01AC24", 3, 56), ("C01DA02", 3, 10), ("C07AB07", 6, 100),
    ), min_age=30),
    DrugCategory("atrial_fibrillation", (
        ("B01AF02", 20, 84), ("B01AF01", 12, 98), ("B01AF03", 6, 90), ("B01AA03", 4, 100),
        ("C07AB02", 6, 100), ("C01AA05", 1, 100),
    ), min_age=30),
    DrugCategory("heart_failure", (
        ("C03CA01", 15, 100), ("C09DX04", 5, 56), ("C03DA01", 6, 100), ("C07AB07", 6, 100),
        ("A10BK01", 3, 98),
    ), min_age=30),
    DrugCategory("copd", (
        ("R03BB04", 8, 30), ("R03AK06", 8, 60), ("R03AC02", 10, 50), ("R03AK07", 8, 60),
        ("R03AL06", 5, 30), ("H02AB06", 4, 20),
    ), min_age=35),
    DrugCategory("depression", (
        ("N06AB10", 12, 98), ("N06AB06", 10, 98), ("N06AB04", 6, 100), ("N06AX11", 8, 30),
        ("N06AX16", 5, 98), ("N06AX12", 3, 90), ("N05AH04", 3, 30),
    ), min_age=12),
    DrugCategory("chronic_kidney_disease", (
        ("C03CA01", 6, 100), ("B03XA01", 3, 30), ("V03AE02", 3, 60), ("A11CC03", 4, 100),
        ("C09CA01", 4, 98),
    ), min_age=18),
    DrugCategory("cancer_female", (
        ("L02BG04", 10, 100), ("L02BA01", 6, 100), ("L02BG03", 4, 100), ("A04AA01", 6, 10),
        ("N02AA01", 3, 10),
    ), sex="F", min_age=18),
    DrugCategory("cancer_male", (
        ("L02AE02", 8, 90), ("L02BB03", 5, 90), ("A04AA01", 6, 10), ("N02AA01", 3, 10),
    ), sex="M", min_age=18),
    DrugCategory("contraception", (
        ("G03AA07", 10, 84), ("G03AC09", 8, 84), ("G02BA03", 3, 365),
    ), sex="F", min_age=15, max_age=49),
    DrugCategory("prostate", (("G04CA02", 10, 90), ("G04CB01", 5, 98)), sex="M", min_age=55),
)

# --------------------------------------------------------------------------------------------------
# Laboratory analyses (NPU)
# --------------------------------------------------------------------------------------------------


class Analysis(NamedTuple):
    """An NPU analysis and the distribution of its results.

    ``dist`` is ``"normal"`` (mean, sd) or ``"lognormal"`` (median, sigma of the log); results are
    clipped to [low, high] and rounded to ``decimals``. ``weights`` are the relative frequencies for
    (inpatient, outpatient, day, outside an episode).
    """

    code: str
    unit: str
    dist: str
    centre: float
    spread: float
    low: float
    high: float
    decimals: int
    weights: tuple[float, float, float, float]


ANALYSES: tuple[Analysis, ...] = (
    Analysis("NPU19748", "mg/L", "lognormal", 6.0, 1.3, 1.0, 450.0, 0, (14, 6, 6, 6)),  # CRP
    Analysis("NPU02319", "mmol/L", "normal", 8.4, 0.9, 3.0, 12.5, 1, (12, 6, 8, 6)),  # haemoglobin
    Analysis("NPU02593", "10^9/L", "lognormal", 7.2, 0.3, 0.5, 60.0, 1, (11, 5, 6, 5)),  # leukocytes
    Analysis("NPU03568", "10^9/L", "normal", 255.0, 65.0, 10.0, 900.0, 0, (6, 3, 5, 3)),  # platelets
    Analysis("NPU03429", "mmol/L", "normal", 139.5, 3.0, 115.0, 160.0, 0, (10, 4, 5, 4)),  # sodium
    Analysis("NPU03230", "mmol/L", "normal", 4.1, 0.4, 2.5, 6.8, 1, (10, 4, 5, 4)),  # potassium
    Analysis("NPU18016", "umol/L", "lognormal", 75.0, 0.25, 25.0, 1200.0, 0, (10, 5, 6, 6)),  # creatinine
    Analysis("NPU27158", "mL/min/1.73m2", "normal", 88.0, 18.0, 5.0, 150.0, 0, (4, 4, 4, 5)),  # eGFR
    Analysis("NPU02192", "mmol/L", "lognormal", 5.6, 0.15, 2.0, 35.0, 1, (6, 3, 3, 4)),  # glucose
    Analysis("NPU27300", "mmol/mol", "normal", 36.0, 4.0, 20.0, 150.0, 0, (1, 2, 1, 3)),  # HbA1c
    Analysis("NPU19651", "U/L", "lognormal", 24.0, 0.45, 5.0, 2000.0, 0, (5, 3, 3, 3)),  # ALAT
    Analysis("NPU19673", "g/L", "normal", 40.0, 4.5, 15.0, 55.0, 0, (5, 2, 3, 2)),  # albumin
)
# fmt: on
