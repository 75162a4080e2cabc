"""Three-letter codes an MRZ may carry as issuing state or nationality (ICAO Doc 9303 Part 3, section 5).

ISO 3166-1 alpha-3 codes, plus the codes ICAO adds for documents that ISO does not cover (Germany's
``D``, the British nationality classes, United Nations, the refugee and stateless codes, EU laissez-passer,
the specimen state ``UTO``). Codes shorter than three letters are stored padded with ``<`` as printed.
Used only to validate an OCR repair of a code field: a code missing here is never wrong, it only makes a
repair impossible.
"""

from __future__ import annotations

_ISO_3166_ALPHA3 = """
ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD BGR BHR BHS
BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR COD COG COK COL COM CPV
CRI CUB CUW CXR CYM CYP CZE DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH FIN FJI FLK FRA FRO FSM
GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY HKG HMD HND HRV HTI HUN IDN IMN
IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE
LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS
MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK
PRT PRY PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR
SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY
USA UZB VAT VCT VEN VGB VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE
"""

# Doc 9303 Part 3 additions: Germany, British classes, UN bodies, refugees and stateless persons,
# international organisations, Kosovo (RKS, used in practice), EU, specimen state.
# (Germany prints D, never DEU, in an MRZ: DEU is left out of the ISO list above.)
_ICAO_EXTRA = """
D<< GBD GBN GBO GBP GBS UNO UNA UNK XBA XIM XCC XCE XCO XEC XPO XES XMP XOM XDC XXA XXB XXC XXX
EUE RKS UTO
"""

COUNTRY_CODES: frozenset[str] = frozenset((_ISO_3166_ALPHA3 + _ICAO_EXTRA).split())


def is_country_code(code: str) -> bool:
    """True when ``code`` (as printed, three characters with ``<`` padding) is a known MRZ code."""
    return code in COUNTRY_CODES
