"""Generate a person-name EVALUATION set from Arabic names written as sounds, by rules of romanisation.

    python bench/names_evalset.py [--seed 2026] [--people 120] [--out tests/data/names/evaluation2_people.json]

Why generated: the hand-written evaluation sets were used to tune the matcher (tests/data/names/README.md), and
a person writing spellings by hand after reading the matcher writes what it already handles. Here each
listed identity is a sequence of Arabic sounds (consonants, short and long vowels, doubled consonants, the
article, ABD AL, IBN/BIN, ABU/BOU), and each document spelling is produced by the romanisation habits of
one tradition (French/Maghreb, English/Mashriq, Turkish, German), written down from how those documents
spell names, not from `agent/hitlist/names.py` (this module imports nothing from it). On top of a
tradition, one disturbance: the particle dropped, joined or changed (EL/AL/ABD/BEN/BOU), a doubled letter
written single or a single one doubled, a short vowel shifted, or the given names in another order.

Edition 3 (`--edition 3`, evaluation set 3) adds, before the matcher was tuned on it: new identities (no name
shared with the development files or evaluation set 2), the Turkish letters Ş, C (jim), Ğ, Ü as German, French
and English documents write them (SCH/CH/SH, DSCH/DJ/J, G or nothing, UE/U: traditions ``tr-de``, ``tr-fr``,
``tr-en``), AL-DIN and ALLAH compounds (NOUREDDINE, NUR AL-DIN, NURETTIN), the Maghreb G for qaf and RH for
ghain, apostrophes for ain and hamza, German J for jim, SS/ß and CK, hyphenated particles, a spelling in another
tradition with a disturbance on top (``mixed``), and near impostors: for every listed person, a person whose
name is one edit away (first vowel, S/SH, S/Z, K/J, a final I or A), spelled alike otherwise.

Edition 4 (`--edition 4`) keeps the habits of edition 3 with new identities, draws no two identities that the
matcher's documented rules take for one person (`one_person_by_the_rules`: the same surname, one's given names
all among the other's; edition 3 drew 26 such pairs, which bench/names_eval.py counted as false hits), and gives
every document spelling its issuing state (a 4th item, `ISSUING_STATES`): what a gate reads from the MRZ.
Edition 5 (`--edition 5`) is edition 4 with new identities again (no name of any earlier pool), and so is edition 6
(`--edition 6`, written after normaliser n11, when sets 4 and 5 had become development sets: no spelling it makes is a
word of any earlier set), edition 7 (`--edition 7`, written after normaliser n12, when set 6 had become a
development set) and edition 8 (`--edition 8`, written after normaliser n13, when set 7 had become one). The
states have draws of their own, so the development sets 2 and 3 were given them afterwards with their names
unchanged.

Negatives (`different_people`): people who share the surname but not a given name, or the given names
but not the surname, written in the same tradition; bench/names_eval.py also pairs every listed person
with every other person's spellings. The identities use no name of the development files, the first
evaluation set or the dictionary (`tests/hitlist/test_name_sets.py` checks the output); a seeded
`random.Random` makes the file reproducible (`test_generated_evaluation_set_is_reproducible`).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "names" / "evaluation2_people.json"

# --- identities as sounds -----------------------------------------------------------------------------
# One character per sound: b t c(th) j H(h of Hasan) x(kh) d v(dh) r z s C(sh) S(emphatic s) D T Z
# '(hamza) E(ain) g(gh) f q k l m n h w y; short vowels a i u, long A I U; a doubled consonant is written
# twice. Prefixes: "al-" (the article), "Eabd-al-", "ibn-", "abU-" (father of).
def _words(text: str) -> list[str]:
    return text.split()


MALE = _words("""
bAsil bahA' DiyA' gayc hilAl jawhar jihAd kAmil labIb luqmAn mAhir mAzin muHsin muhannad murtaDA muEtaSim
najm nAjI rAgib raCAd riyAD SAbir sahl CihAb Suhayb tamIm cAbit wajdI waSfI yaHyA yazan Zafir zuhdI fawwAz
HAzim iHsAn EimrAn iyAs jAbir xalaf xaTTAb kinAn mamdUH midHat miSbAH mufId muxliS munIf muSEab muwaffaq
nasIm nawwAf nazIh nuEmAn qutayba rAmiz ruCdI samIH Saqr CafIq CAkir taHsIn TAlib wadIE wahbI wajIh wisAm
zakI adham Eafif EAkif EAtif Eawad Eazzam badIE fahd fahIm fA'iq gAnim Haydar Hakam hAnI hArUn Hilmi
Eikrima Eismat Eizzat karam maHfUZ maZhar nAyif rabAH rafEat Eabd-al-SamAd Eabd-al-xAliq Eabd-al-wahhAb
Eabd-al-bArI Eabd-al-jabbAr Eabd-al-gafUr Eabd-al-muHsin Eabd-al-Hayy Eabd-al-mAlik Eabd-al-nUr
""")
FEMALE = _words("""
EabIr EafAf asmahAn bahIja basma dalAl DuHA fadwA fA'iza gufrAn hadIl hAla HalIma hanAdI inAs intiSAr
ibtisAm jIhAn kawcar xawla lubnA mahA mAjida manAl marwa nabIha najlA' najwA nisrIn rabAb ragda raHma
randa raCA ruwayda SabAH saHar sanA' sihAm suhA curayyA warda wijdAn yamIna ZAhira zuhUr zulayxa rAbiEa
gAniya
""")
SURNAMES = _words("""
al-makkI zarwAl farHAt naHHAs Sabbag EaTTAr najjAr xayyAT Hallaq dabbAg qaSSAb jazzAr TaHHAn Sarraf
qabbAnI bargUcI HalabI HimSI dimaCqI mawSilI baSrI kUfI tUnisI jazA'irI magribI tilimsAnI EannAbI
qusanTInI janUbI CamAlI yamanI HijAzI najdI HaDramI azharI dajAnI naCACIbI xAlidI kattAnI bUrqIba
gannUCI mistIrI CAbbI al-jundI zayyAt xaddAm ramlAwI bannA' TabbAx kurdI al-karbalA'I al-najafI al-xazrajI
al-muTayrI al-EutaybI al-dawsarI al-CahrAnI al-gAmidI al-HarbI al-EanazI al-balUCI al-kaEbI al-mazrUEI
al-falAsI al-kuwArI al-sulayTI bU-rAs bU-xubza bU-jadra bin-xalfAn ibn-ruCd bin-jAsim al-biqAEI al-Sayrafi
al-tilmIvI al-bayTAr al-jarrAH al-Eassal al-nabulsI al-Hakawati al-zarqAwI al-maydAnI
""")

SUN = set("tcdvrzsCSDTZln")
VOWELS = set("aiuAIU")
TRADITIONS = ("fr", "en", "tr", "de")

# --- romanisation habits, per tradition: each sound's spellings, the first the most common ---------------
# (French: Maghreb civil registers and passports; English: Mashriq and Gulf passports; Turkish: Turkish
# orthography as written in an MRZ, without diacritics; German: German transcription habits.)
CONSONANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "fr": {"b": ("B",), "t": ("T",), "c": ("T", "TH"), "j": ("DJ", "J"), "H": ("H",), "x": ("KH",), "d": ("D",),
           "v": ("D", "DH"), "r": ("R",), "z": ("Z",), "s": ("S",), "C": ("CH",), "S": ("S",), "D": ("D", "DH"),
           "T": ("T",), "Z": ("Z", "DH"), "'": ("",), "E": ("",), "g": ("GH",), "f": ("F",), "q": ("K", "Q"),
           "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",), "h": ("H",), "w": ("OU", "W"), "y": ("Y", "I")},
    "en": {"b": ("B",), "t": ("T",), "c": ("TH",), "j": ("J",), "H": ("H",), "x": ("KH",), "d": ("D",),
           "v": ("DH", "Z"), "r": ("R",), "z": ("Z",), "s": ("S",), "C": ("SH",), "S": ("S",), "D": ("D", "DH"),
           "T": ("T",), "Z": ("Z", "DH"), "'": ("", "", "A"), "E": ("", "", "A"), "g": ("GH",), "f": ("F",), "q": ("Q", "K"),
           "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",), "h": ("H",), "w": ("W",), "y": ("Y",)},
    "tr": {"b": ("B",), "t": ("T",), "c": ("S",), "j": ("C",), "H": ("H",), "x": ("H",), "d": ("D",),
           "v": ("Z",), "r": ("R",), "z": ("Z",), "s": ("S",), "C": ("S",), "S": ("S",), "D": ("Z", "D"),
           "T": ("T",), "Z": ("Z",), "'": ("",), "E": ("",), "g": ("G",), "f": ("F",), "q": ("K",),
           "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",), "h": ("H",), "w": ("V",), "y": ("Y",)},
    "de": {"b": ("B",), "t": ("T",), "c": ("T", "S"), "j": ("DSCH", "DJ"), "H": ("H",), "x": ("CH", "KH"),
           "d": ("D",), "v": ("D", "S"), "r": ("R",), "z": ("Z", "S"), "s": ("S", "SS"), "C": ("SCH",), "S": ("S",),
           "D": ("D",), "T": ("T",), "Z": ("S", "Z"), "'": ("",), "E": ("",), "g": ("GH", "G"), "f": ("F",),
           "q": ("K",), "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",), "h": ("H",), "w": ("W",), "y": ("J", "Y")},
}
SHORT = {  # short vowels: French and Turkish often write a as E, u as O; Turkish i stays I, u may be Ü -> U
    "fr": {"a": ("A", "E"), "i": ("I", "E"), "u": ("OU", "O")},
    "en": {"a": ("A",), "i": ("I", "E"), "u": ("U", "O")},
    "tr": {"a": ("A", "E"), "i": ("I",), "u": ("U", "Ü")},
    "de": {"a": ("A",), "i": ("I",), "u": ("U",)},
}
LONG = {
    "fr": {"A": ("A",), "I": ("I",), "U": ("OU",)},
    "en": {"A": ("A", "A", "AA"), "I": ("I", "EE"), "U": ("U", "U", "OO")},
    "tr": {"A": ("A",), "I": ("I",), "U": ("U",)},
    "de": {"A": ("A",), "I": ("I", "IE"), "U": ("U",)},
}
DIPHTHONG = {  # a + y, a + w before a consonant or at the end
    "fr": {"ay": ("AI", "EI"), "aw": ("AOU", "AW")},
    "en": {"ay": ("AY", "AI", "EI"), "aw": ("AW",)},
    "tr": {"ay": ("AY", "EY"), "aw": ("EV", "AV")},
    "de": {"ay": ("AI", "EI"), "aw": ("AU",)},
}
FINAL_DEVOICE = {"tr": {"B": "P", "D": "T"}}  # Turkish writes final b, d as p, t (REFIK, RECEP)
ARTICLE = {"fr": ("EL",), "en": ("AL", "AL-"), "tr": ("",), "de": ("AL",)}
OTHER_ARTICLE = {"fr": "AL", "en": "EL", "tr": "EL", "de": "EL"}
ASSIMILATED = {"fr": 0.3, "en": 0.15, "tr": 0.0, "de": 0.0}
ABD = {"fr": ("ABDEL", "ABD EL", "ABDE+"), "en": ("ABDUL", "ABD AL", "ABDU+"), "tr": ("ABDUL+", "ABDÜL+"),
       "de": ("ABD AL", "ABDUL", "ABDEL")}
SON = {"fr": ("BEN", "BEN+"), "en": ("BIN", "IBN"), "tr": ("BIN",), "de": ("BIN", "BEN")}
FATHER = {"fr": ("BOU+", "BOU", "ABOU"), "en": ("ABU", "ABU+"), "tr": ("EBU",), "de": ("ABU", "ABOU")}
# ICAO transliteration of the Turkish letters that have none in the MRZ (Doc 9303 Part 3: Ç -> C, Ü -> UE or U)
MRZ_LETTERS = {"Ç": ("C",), "Ü": ("U", "UE")}



# --- edition 3 (evaluation set 3): new identities and more sources of variation ---------------------------
# Written before the matcher was tuned on it; the identities share no name with the earlier pools.
MALE3 = _words("""
Eaqil EArif EAyid fikrI fayyAD firAs jarIr manAf maymUn muTlaq nabhAn Sidqi SubHI Tayyib turkI Eurwa zaydAn
jubayr muSliH munjid muntaSir Cawkat bAhir Hasnayn Hudayfa jundub mishAl munqiv muqbil qutb rAfiE sinAn sulTAn
Tarafa Sakhr DirAr Eattab farqad harcama Hayyan jaddUE kulayb luqayT mujAhid nawfal Sayfi Turad xuzayma zamil
Sadr-al-dIn Ealam-al-dIn Taqiyy-al-dIn muHyI-al-dIn qamar-al-dIn zayn-al-dIn Eata-allAh fayD-allAh rizq-allAh
jAd-allAh Cukr-allAh Eabd-al-wadUd Eabd-al-fattAH Eabd-al-SabUr Eabd-al-muhaymin
""")
FEMALE3 = _words("""
Eabla afnAn asIl jannAt lIna qamar sAmiya Cayma' tahAnI lamIs nAhid dIma hiba Cahd Eafra' bayAn jinAn kinda
lujayn maysa' maysUn miyAda rawAn sulafa Tayba wiEAm Eanbara buhayna darIn gufrAn Hanna jawrI kawkab muzna naEmat
rufayda sundus tasnIm wafIqa yumna
""")
SURNAMES3 = _words("""
xaznadAr al-andalusI bazzAz kaHHAl SaffAr xarrAT maknAsI wahrAnI sUsI rabATI qArI nuwayrI al-baydAwI al-Cirbini
jaddAd al-Hawwari al-zahrI al-mahdAwI al-sanUsI al-gazzAlI al-Hilli al-samarrA'I al-majAlI al-Tarawna al-xawAlda
al-Eabbadi al-muhayrI al-Sumayti al-marrI al-kacIrI bU-Cnaq bU-xaTir al-ruwayli al-xuzAEI al-hudalI darwaza qaddUra
SabbAH faxxAr bin-Eazzuz bU-tarfa
""")

CONSONANTS3 = {
    **CONSONANTS,
    "fr": {**CONSONANTS["fr"], "q": ("K", "Q", "G"), "g": ("GH", "RH")},  # Maghreb G for qaf, Moroccan RH
    "en": {**CONSONANTS["en"], "E": ("", "", "A", "'"), "'": ("", "", "A", "'")},  # apostrophes for ain/hamza
    "de": {**CONSONANTS["de"], "j": ("DSCH", "DJ", "J"), "s": ("S", "SS", "ß")},
    # Turkish orthography before it is written in a document: Ş, C (jim), Ğ (medial ghain), Ü
    "tu": {**CONSONANTS["tr"], "C": ("Ş",), "g": ("Ğ",)},
}
SHORT3 = {**SHORT, "fr": {**SHORT["fr"], "u": ("OU", "O", "U")}, "tu": SHORT["tr"]}
LONG3 = {**LONG, "tu": LONG["tr"]}
DIPHTHONG3 = {**DIPHTHONG, "de": {**DIPHTHONG["de"], "ay": ("AI", "EI", "AJ")}, "tu": DIPHTHONG["tr"]}
ARTICLE3 = {**ARTICLE, "fr": ("EL", "EL-"), "tu": ("",)}
OTHER_ARTICLE3 = {**OTHER_ARTICLE, "tu": "EL"}
ASSIMILATED3 = {**ASSIMILATED, "tu": 0.0}
ABD3 = {**ABD, "fr": ("ABDEL", "ABD EL", "ABDE+", "ABDOUL"), "en": ("ABDUL", "ABD AL", "ABDU+", "ABD AL-"),
        "tu": ("ABDU+", "ABDÜL+")}
SON3 = {**SON, "en": ("BIN", "IBN", "BEN"), "tu": ("BIN",)}
FATHER3 = {**FATHER, "fr": ("BOU+", "BOU", "ABOU", "BOU-"), "en": ("ABU", "ABU+", "ABOU"), "tu": ("EBU", "EBU+")}
# AL-DIN and ALLAH compounds: NOUREDDINE, NURUDDIN, NUR AL DIN, NURETTIN; KHEIRALLAH, KHAIRULLAH, HAYRULLAH
SUFFIX3 = {
    "dIn": {"fr": ("EDDINE", " EDDINE", "DINE"), "en": ("UDDIN", " AL DIN", " AL-DIN"), "de": ("EDDIN", " AD-DIN", "UDDIN"),
            "tu": ("ETTIN", "EDDIN")},
    "allAh": {"fr": ("ALLAH", " ALLAH"), "en": ("ULLAH", "ALLAH", " ALLAH"), "de": ("ULLAH", "ALLAH"),
              "tu": ("ULLAH", "ULLA")},
}
# A Turkish name as documents of other languages write the Turkish letters (ICAO in the MRZ: S, C, G, U/UE)
TURKISH_IN = {
    "tr": {"Ş": ("S",), "Ğ": ("G",), "Ü": ("U", "UE")},
    "tr-de": {"Ş": ("SCH", "S"), "C": ("C", "DSCH"), "Ğ": ("G", ""), "Ü": ("UE",)},
    "tr-fr": {"Ş": ("CH", "S"), "C": ("C", "DJ"), "Ğ": ("G", ""), "Ü": ("U",)},
    "tr-en": {"Ş": ("SH", "S"), "C": ("C", "J"), "Ğ": ("G", ""), "Ü": ("U",)},
}


# --- edition 4 (evaluation set 4): new identities, the habits of edition 3, the document's issuing state ------
# No name of the earlier pools; no two identities that the matcher's rules take for one person (make_people).
MALE4 = _words("""
aws bacIr HammUd xAzin Dirgam saEdUn ZAhir EiSAm Ealwan fAyiz muEAwiya munawwar waDDAH aflaH baddAH basIm bakkAr
Dahi rayyAn zAhid sariyya Tufayl Eutba fuDayl qaEqAE muhAjir nAfiE yamAn bahjat sirAj xiDr Hudhayl muEtazz
ruwayHa Eubayda Sahib maHbUb mutawakkil muCrif tammAm Hurayc zaydUn Sudayq jarrAH muraqqib muHArib qaswara baccAr
labbAd fAtik jalwaH Tayfur wahhAj Cadhir Eiz-al-dIn sirAj-al-dIn jAr-allAh Eabd-al-rAziq Eabd-al-munEim
Eabd-al-mu'min
""")
FEMALE4 = _words("""
ibtihAl arIj batUl tamAra duEA' rImA zubayda sArA salwA samar fAtin fayrUz walA' rahaf SabrIn sAhira nihAd
inEAm lubAba umayma nasIba rayHAna jawAhir Sabiha Eatika xuzAma carwa jullanAr tumADir sukayna ramla Cahla
""")
SURNAMES4 = _words("""
al-zuEbI al-Eajami barakAt bayDUn jabbUr dabbAs zaEtar sukkar Cahhat SAyig Eassaf gannAm fAxUrI wakIl al-bustAnI
al-duwayrI al-rAwi al-sabEAwi al-TarabulusI al-qudsI al-kilAnI al-hAcimI bin-Hammuda qarqUr
Tubbal al-Hulwani ballUT Eammac Hayik al-xuwayldi kaEkI zuqAq baTTAH muCtaha dIbU Hurani zaqzUq
al-luHaydan al-Sagir bin-Tawq bU-rAwi al-sammAn qurqmAz al-Haffar zarqUn al-damlUji kubba
""")
# --- edition 5 (evaluation set 5): the habits of edition 4, new identities again -----------------------------
MALE5 = _words("""
gaylAn Hubayc xabbAb Tarif CurayH Hurr xuwaylid Eabs muzAHim muTTalib Hanbal Caddad sulaym qatAda
baddAr fahhAd lAHiq muhallab Tulayb sahm ruqqAd bakIr mAlih rifAEa mujammaE zurayq Ealqama Hurayz
Cimr nAfic jidAr xulayf Cabib Eabd-al-maqsUd Eabd-al-gaffAr Eabd-al-mannAn Eabd-al-wAric wali-al-dIn faxr-al-dIn
baraka-allAh
""")
FEMALE5 = _words("""
xansA' rumaysA' Cahrazad dAliya nusayba layAl sajA gaydA' mayAr zinAt fadIla hadiyya
qudwa tuqa Camma Hayfa' lamAr
""")
SURNAMES5 = _words("""
qarDAwI al-maqdisI kanafAnI al-HuSrI Tuqan al-Ealami Eurayqat qubbaj al-nahyAn al-mursI zuwayla bU-xarrUba
al-wardI gandUr kabbAra kallAs xurcId al-Haskafi al-xuTabA' al-Sawwaf
""")
# --- edition 6 (evaluation set 6): the habits of edition 5, new identities again -----------------------------
MALE6 = _words("""
Eawf marcad jabala qurra Cumays rawAH HAjib lubayd qaTan xuzayr Hirmas rAjiH dalhum Hubayr zufar Hujr Eutayq
nuEaym Sumayr Hanash qabIS mujIr raHIl bujayr Eiyar birr EurfuT Hanzala Sakhbar Eumayl Hudba jarwal Suhaym
Eantar dubays Curayb maslama nubAta kahlAn ruzayq Sanad zibriqAn Eabd-al-mujIb Eabd-al-Sattar Eabd-al-kAfI
Eabd-al-muqtadir rukn-al-dIn tAj-al-dIn wahb-allAh
""")
FEMALE6 = _words("""
Eulayya rudayna juwayriyya xayzurAn lubAna maysara Sufayra Cuhda Hawra' nadIma Eariba dujAna Eunayza zarqA'
Hubba kabCa
""")
SURNAMES6 = _words("""
al-Hamdani al-ruSAfI al-Eakkari naffAc al-jawharI fattUH al-Hinnawi zaglUl xawAja al-safadI al-maHAmId
al-wAsiTI qalqIlI al-jallAd al-bArUdI al-Eazzawi al-karxI daryAn al-jubaylI al-rawAHI
""")
# --- edition 7 (evaluation set 7): the habits of edition 6, new identities again (written after normaliser n12,
# when set 6 had become a development set; no spelling they make is a word of sets 1-6, the development files or
# the dictionary) ----------------------------------------------------------------------------------------------
MALE7 = _words("""
xubayb muhalhil hammAm sawwAr Taymur jassAs Hunayn saEIr muHakkam Dubayb qanbar sinjAr ruCayd numayr wAqid xarija
Eadiyy mundir raqIb kaEb Sumam mujAlid mugIra kulcUm harrAs baysAn Hamdun Hurmuz sammAk juwayn warrAd Camsi xuzaym
qaysar layc Tahhan ruHayl Eaqqad Sulayh Eawn Sayyah Hudayr Eabd-al-mutaEAl Eabd-al-qahhAr Eabd-al-dayyAn
nAsiH-al-dIn cams-al-dIn Eubayd-allAh
""")
FEMALE7 = _words("""
rubAb nufayla bucra Dabya kuwayta juhayna Eafrah sudayra nawwAra Cammas muzayna ruDAb gazAla Eanan Cadha xuzna
""")
SURNAMES7 = _words("""
al-ruwAci al-Halabiyya al-muhannA al-SUfI al-Eumari al-jazrAwI Tarabay al-xayyam al-mugrabI al-ruCaydI bin-xAmis
bU-Caqra al-Hayyani al-qaysi al-Dabbi al-darwIcI al-jayyusi qaSSAr al-naqqAC murtaja
""")
# --- edition 8 (evaluation set 8): the habits of edition 7, new identities again (written after normaliser n13,
# when set 7 had become a development set; no spelling they make is a word of sets 1-7, the development files or
# the dictionary) ----------------------------------------------------------------------------------------------
MALE8 = _words("""
qudAma HArica usayd Hubab miqdAd Dahhak mabrUk furAt ubayy waqqAS Curahbil barA' aslam Hijris kurayb mubaccir
Hujayr jundAr saEsaE Hanbas nujayd Humayd Eawsaj dirbas kahmas hamhUm Eabd-al-wAsiE Eabd-al-Cakur Eaffan
nubayh Eilba kilAb rawwAd labId dakwAn Hibban Hurqus Harmala musayyib Sirhan Eabd-al-qayyUm Haqq-allAh Hubaysh
Sabiq mukarram SArim Eabd-al-Hasib Eabd-al-muqIt
""")
FEMALE8 = _words("""
rumayla sawda safAna barIra qutayla sakIna Hulayma gufayra mulayka hunayda rayTa qamra durra Eufayra rawHa Sabra
""")
SURNAMES8 = _words("""
al-Hijjawi al-rawAbda al-Eadwan al-HadIdI al-xasAwna al-rUsAn al-mufliH al-xalAyla al-EitAnI al-baCItI al-qudAt
al-HiyArI al-zawAhra al-tall al-Hammuri al-dawAlibI al-kayyAlI al-jabartI al-xurAsAnI al-mardInI al-EajlunI
""")
# The issuing state of a document spelled by each tradition (ICAO codes), the first the most common: lists are
# matched against what the document says, so from edition 4 every spelling carries its issuing state. A person
# naturalised in Germany or Turkey may keep the spelling of a French or English document (DEU, TUR among them).
ISSUING_STATES = {
    "fr": ("DZA", "MAR", "TUN", "FRA", "BEL", "DEU"), "en": ("JOR", "IRQ", "SYR", "SAU", "ARE", "GBR", "DEU", "TUR"),
    "tr": ("TUR",), "de": ("DEU", "AUT", "DEU"), "tr-de": ("DEU",), "tr-fr": ("FRA",), "tr-en": ("GBR",),
}


@dataclass(frozen=True)
class Edition:
    """The identities and habits one edition of the evaluation set is generated from."""

    number: int
    male: list[str]
    female: list[str]
    surnames: list[str]
    consonants: dict = field(default_factory=lambda: CONSONANTS)
    short: dict = field(default_factory=lambda: SHORT)
    long: dict = field(default_factory=lambda: LONG)
    diphthong: dict = field(default_factory=lambda: DIPHTHONG)
    article: dict = field(default_factory=lambda: ARTICLE)
    other_article: dict = field(default_factory=lambda: OTHER_ARTICLE)
    assimilated: dict = field(default_factory=lambda: ASSIMILATED)
    abd: dict = field(default_factory=lambda: ABD)
    son: dict = field(default_factory=lambda: SON)
    father: dict = field(default_factory=lambda: FATHER)
    suffix: dict = field(default_factory=dict)

    def table(self, tradition: str) -> str:
        """The habit tables a document tradition spells with (edition 3: Turkish orthography first)."""
        return "tu" if self.number >= 3 and tradition.startswith("tr") else tradition


# editions 3 on spell with edition 3's habit tables; each brings its own identities
HABITS3 = (CONSONANTS3, SHORT3, LONG3, DIPHTHONG3, ARTICLE3, OTHER_ARTICLE3, ASSIMILATED3, ABD3, SON3, FATHER3, SUFFIX3)
EDITIONS = {
    2: Edition(2, MALE, FEMALE, SURNAMES),
    3: Edition(3, MALE3, FEMALE3, SURNAMES3, *HABITS3),
    4: Edition(4, MALE4, FEMALE4, SURNAMES4, *HABITS3),
    5: Edition(5, MALE5, FEMALE5, SURNAMES5, *HABITS3),
    6: Edition(6, MALE6, FEMALE6, SURNAMES6, *HABITS3),
    7: Edition(7, MALE7, FEMALE7, SURNAMES7, *HABITS3),
    8: Edition(8, MALE8, FEMALE8, SURNAMES8, *HABITS3),
}


def tokens(sounds: str) -> list[str]:
    """The sounds of one word, a doubled consonant as one token ``cc``."""
    out: list[str] = []
    for ch in sounds:
        if out and ch == out[-1] and ch not in VOWELS:
            out[-1] = ch * 2
        else:
            out.append(ch)
    return out


def pick(rng: random.Random, options: tuple[str, ...]) -> str:
    """The most common spelling (first) seven times in ten, else one of the others."""
    return options[0] if rng.random() < 0.7 or len(options) == 1 else rng.choice(options[1:])


def spell_word(sounds: str, tradition: str, rng: random.Random, *, double: str = "as-said",
               shift_vowel: bool = False, ed: Edition = EDITIONS[2]) -> str:
    """One word written in ``tradition``: each sound by a spelling of that tradition (the most common one
    more often); ``double``: 'as-said' (doubled consonants doubled, mostly), 'single' (written single),
    'extra' (one single consonant between vowels doubled); ``shift_vowel``: one short vowel written as
    another (A/E, I/E, U/O)."""
    doc, tradition = tradition, ed.table(tradition)
    toks = tokens(sounds)
    vary = random.Random(rng.random())  # the disturbance's own draws: the rest is spelled as without it
    shift_at = extra_at = None
    shorts = [i for i, t in enumerate(toks) if t in ("a", "i", "u")]
    if shift_vowel and shorts:
        shift_at = vary.choice(shorts)
    singles = [i for i, t in enumerate(toks) if 0 < i < len(toks) - 1 and len(t) == 1 and t not in VOWELS
               and t not in "'Ewy" and toks[i - 1] in VOWELS and toks[i + 1] in VOWELS]
    if double == "extra" and singles:
        extra_at = vary.choice(singles)
    out: list[str] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t == "a" and nxt in ("y", "w") and (i + 2 >= len(toks) or toks[i + 2] not in VOWELS):
            out.append(pick(rng, ed.diphthong[tradition]["a" + nxt]))
            i += 2
            continue
        if t in ("a", "i", "u"):
            spelled = pick(rng, ed.short[tradition][t])
            if i == shift_at:
                spelled = {"A": "E", "E": "A", "I": "E", "OU": "O", "O": "U", "U": "O", "Ü": "O"}.get(spelled, spelled)
            out.append(spelled)
        elif t in ("A", "I", "U"):
            options = ed.long[tradition][t]
            if t == "I" and nxt is None:  # a final long I: -I, in English also -Y; never -IE or -EE
                options = ("I", "Y") if tradition == "en" else ("I",)
            out.append(pick(rng, options))
        else:
            c = t[0]
            options = ed.consonants[tradition][c]
            if c == "w" and tradition == "fr" and (nxt is None or nxt not in VOWELS):
                options = ("W", "OU")  # French OU is a vowel before a consonant: DAOUD but MAWLA/MAOULA
            prev = toks[i - 1] if i else None
            if c == "w" and tradition == "fr" and prev in ("u", "U"):
                options = ("",) if out[-1].endswith("OU") else ("W",)  # ROUAIDA, KOWARI: not ROUOUAIDA
            if c in "E'" and i == 0:
                options = ("",)  # an initial ain or hamza is not written
            letters = pick(rng, options)
            if c == "g" and i == 0 and letters == "Ğ":
                letters = "G"  # Turkish soft G never starts a word: GALIP
            if c == "y" and i == 0:
                letters = "Y" if tradition != "de" else "J"
            doubled = len(t) == 2 and rng.random() >= 0.1  # a doubled consonant is sometimes written single
            if double == "single":
                doubled = False
            if i == extra_at:
                doubled = True
            if c == "s" and tradition == "fr" and len(t) == 1 and i > 0 and toks[i - 1] in VOWELS and nxt in VOWELS:
                letters = "SS"  # French doubles S between vowels so that it is not read as Z
            out.append(letters * 2 if doubled and len(letters) == 1 else letters)  # SHADDA on TH: written once
        i += 1
    word = re.sub(r"(.)\1\1+", r"\1\1", "".join(out))  # never three letters alike (E + AA: not AAA)
    if tradition == "fr" and word.endswith("A") and sounds.endswith("a") and rng.random() < 0.2:
        word += "H"
    if tradition == "fr" and sounds[-1] == "n" and rng.random() < 0.4:
        word += "E"  # French final E after N: SOFIANE, RAMDANE
    if tradition in ("tr", "tu"):
        last = word[-1]
        word = word[:-1] + FINAL_DEVOICE["tr"].get(last, last)
        if sounds.endswith("a") and rng.random() < 0.5:
            word = word[:-1] + "E"  # Turkish -e for a final -a (HATICE)
    if tradition == "tu":
        return word  # its Turkish letters are written by spell_component, after the particles
    for letter, options in MRZ_LETTERS.items():
        word = word.replace(letter, pick(rng, options))
    if doc == "de" and ed.number >= 3:
        word = re.sub(r"^(?:ß|SS)", "S", word.replace("KK", "CK"))  # German CK for KK; no word starts with ß, SS
    return word


def spell_component(component: str, tradition: str, rng: random.Random, *, particle: str = "usual",
                    double: str = "as-said", shift_vowel: bool = False, ed: Edition = EDITIONS[2]) -> str:
    """A name component with its prefix (article, ABD AL, IBN, ABU) as ``tradition`` writes it; ``particle``:
    'usual', 'dropped' (the article left out), 'joined' (written as one word with the name), 'other' (the
    other common form: AL for EL, BIN for BEN, ABDUL for ABDEL...). Edition 3 also writes AL-DIN and ALLAH
    compounds, and the Turkish letters as documents in ``tr-de``, ``tr-fr``, ``tr-en`` write them."""
    spelled = _component(component, tradition, rng, particle, double, shift_vowel, ed)
    if ed.number >= 3 and tradition.startswith("tr"):
        spelled = "".join(pick(rng, TURKISH_IN[tradition].get(ch, (ch,))) if ch in "ŞCĞÜ" else ch for ch in spelled)
    return spelled


def _component(component: str, doc: str, rng: random.Random, particle: str, double: str, shift_vowel: bool,
               ed: Edition) -> str:
    parts = component.split("-")
    name = parts[-1]
    tradition = ed.table(doc)
    if ed.suffix and name in ed.suffix:  # NUR-AL-DIN, XAYR-ALLAH: the first part and the suffix
        base = spell_word(parts[0], doc, rng, double=double, shift_vowel=shift_vowel, ed=ed)
        if base.endswith("E") and parts[0][-1] not in VOWELS:
            base = base[:-1]  # the French final E is not written inside a compound: ZAINEDDINE
        options = ed.suffix[name][tradition]
        form = options[0] if particle != "other" else rng.choice(options[1:])
        return base + (form.replace(" ", "") if particle == "joined" else form)
    word = spell_word(name, doc, rng, double=double, shift_vowel=shift_vowel, ed=ed)

    if parts[0] == "al":
        if particle == "dropped":
            return word
        form = pick(rng, ed.article[tradition]) if particle != "other" else ed.other_article[tradition]
        if form in ("AL", "EL") and name[0] in SUN and rng.random() < ed.assimilated[tradition]:
            first = word[:2] if word[:2] in ("CH", "SH", "TH", "DH") else word[0]
            form = form[0] + first  # the article assimilated to a sun letter: ECH CHERIF, ER RACHID, AS SAYYID
        if not form:
            return word
        if form.endswith("-") or particle == "joined":
            return form + word
        return f"{form} {word}"
    if parts[0] == "Eabd":
        options = ed.abd[tradition]
        form = options[0] if particle != "other" else rng.choice(options[1:] or options)
        if form.endswith("+"):
            stem = form[:-1]
            if stem in ("ABDE", "ABDU"):  # the article assimilated: ABDERRAHIM, ABDUSSAMAD; else ABDELKHALIQ
                first = word[:2] if word[:2] in ("CH", "SH", "TH", "DH") else word[0]
                return stem + (first if name[0] in SUN else "L") + word
            return stem + word
        if particle == "joined":
            return form.replace(" ", "") + word
        return f"{form} {word}"
    if parts[0] in ("ibn", "bin", "abU", "bU"):
        options = (ed.son if parts[0] in ("ibn", "bin") else ed.father)[tradition]
        form = options[0] if particle != "other" else rng.choice(options[1:] or options)
        if form.endswith("+") or particle == "joined":
            return form.rstrip("+").rstrip("-") + word
        return f"{form} {word}" if not form.endswith("-") else form + word
    return word


VARIATIONS = ("particle", "double", "vowel", "order")


def person_spelling(person: dict, tradition: str, seed: int, variation: str | None = None,
                    vary: random.Random | None = None, ed: Edition = EDITIONS[2]) -> tuple[str, str]:
    """(surname, given names) of ``person`` written in ``tradition``, each component spelled from its own
    seed (so the same ``seed`` spells a component the same way), with at most one ``variation`` applied to
    one component chosen by ``vary`` (or, for 'order', the given names rotated)."""
    components = [person["surname"], *person["given"]]
    target = None
    if variation in ("particle", "double", "vowel"):
        assert vary is not None
        target = vary.choice([i for i, c in enumerate(components) if variation != "particle" or "-" in c])
    spelled = []
    for i, sounds in enumerate(components):
        kwargs: dict = {}
        if i == target and variation == "particle":
            assert vary is not None
            kwargs["particle"] = vary.choice(("dropped", "joined", "other") if sounds.startswith("al-")
                                             else ("joined", "other"))
        elif i == target and variation == "double":
            kwargs["double"] = "single" if re.search(r"([^aiuAIU])\1", sounds) else "extra"
        elif i == target and variation == "vowel":
            kwargs["shift_vowel"] = True
        spelled.append(spell_component(sounds, tradition, random.Random(seed * 7919 + i), ed=ed, **kwargs))
    given = spelled[1:]
    if variation == "order":
        given = given[1:] + given[:1]
    return spelled[0], " ".join(given)


def one_person_by_the_rules(a: dict, b: dict) -> bool:
    """Whether two identities (sounds: ``surname``, ``given``) are one person by the matcher's documented rules
    (docs/names.md, key rule 4): the same surname and one's given names all among the other's, since a document or
    a list may drop a trailing given name and write the given names in another order (KHARRAT MANAF is KHARRAT
    MANAF ABDUL SABOOR). Such a pair is not two different people to the matcher: edition 4 never draws it, and
    bench/names_eval.py does not count it as a false hit in the earlier sets."""
    ga, gb = set(a["given"]), set(b["given"])
    return a["surname"] == b["surname"] and (ga <= gb or gb <= ga)


def make_people(rng: random.Random, count: int, ed: Edition = EDITIONS[2]) -> list[dict]:
    """``count`` distinct identities: a surname and one or two given names (the second the father's); from
    edition 4 on, no two that one_person_by_the_rules (editions 2 and 3 drew some: their files are frozen)."""
    people: list[dict] = []
    seen = set()
    while len(people) < count:
        female = rng.random() < 0.35
        first = rng.choice(ed.female if female else ed.male)
        given = [first] + ([rng.choice(ed.male)] if rng.random() < 0.6 else [])
        if len(given) == 2 and given[0] == given[1]:
            continue
        key = (rng.choice(ed.surnames), tuple(given))
        if key in seen:
            continue
        person = {"surname": key[0], "given": list(key[1])}
        if ed.number >= 4 and any(one_person_by_the_rules(person, other) for other in people):
            continue
        seen.add(key)
        people.append(person)
    return people


def variations_for(person: dict) -> list[str]:
    """The disturbances that apply to ``person`` (a particle only when a component has one, ...)."""
    out = ["vowel"]
    sounds = [person["surname"], *person["given"]]
    if any("-" in s for s in sounds):
        out.append("particle")
    out.append("double")  # a doubled consonant written single, or a single one doubled
    if len(person["given"]) == 2:
        out.append("order")
    return out


# Edits of one sound that make another name, as docs/names.md and shared NAMES.md tell names apart: the first
# vowel rounded or not (HASAN / HUSAYN), S / SH, S / Z, K / J (KAMAL / JAMAL), a final I (MANSUR / MANSURI)
# or A (SALIM / SALIMA) added or dropped.
NEAR_EDITS = (("first-vowel", r"^([^aiuAIU]*)a", r"\1u"), ("first-vowel", r"^([^aiuAIU]*)u", r"\1a"),
              ("sh", "C", "s"), ("sh", "s", "C"), ("z", "z", "s"), ("z", "s", "z"), ("kj", "k", "j"), ("kj", "j", "k"),
              ("final", r"([^aiuAIU'E])$", r"\1I"), ("final", r"([^aiuAIU'E])$", r"\1a"), ("final", r"(...)[Ia]$", r"\1"))


def near_person(person: dict, rng: random.Random) -> dict | None:
    """Another person whose name differs from ``person``'s by one edit of NEAR_EDITS in one component."""
    choices = []
    for i, component in enumerate([person["surname"], *person["given"]]):
        *prefix, name = component.split("-")
        if name in ("dIn", "allAh"):
            continue
        for _, pattern, replacement in NEAR_EDITS:
            edited = re.sub(pattern, replacement, name, count=1)
            if edited != name:
                choices.append((i, "-".join([*prefix, edited])))
    if not choices:
        return None
    i, edited = rng.choice(choices)
    components = [person["surname"], *person["given"]]
    components[i] = edited
    return {"surname": components[0], "given": components[1:]}


def generate(seed: int, count: int, edition: int = 2) -> dict:
    """The evaluation set: listed people, their spellings by tradition and disturbance, and negatives."""
    ed = EDITIONS[edition]
    rng = random.Random(seed)
    states = random.Random(seed + 1)  # issuing states: their own draws, so the names are as before states were added

    def document(spelled: tuple[str, str], tradition: str) -> list[str]:
        """A spelling as a document shows it, with the state that issued it."""
        return [*spelled, states.choice(ISSUING_STATES[tradition])]

    identities = make_people(rng, count, ed)
    people, listed_in = [], []
    for n, person in enumerate(identities):
        listed_tradition = rng.choice(("fr", "en"))  # lists are written by French or English speaking services
        listed_in.append(listed_tradition)
        base = seed * 100_000 + n * 10
        listed = person_spelling(person, listed_tradition, base, ed=ed)
        travelling, seen = [], {listed}
        if edition < 3:
            others = [t for t in TRADITIONS if t != listed_tradition]
        else:  # the other list language, German, Turkish MRZ, and Turkish as a German/French/English document
            others = ["en" if listed_tradition == "fr" else "fr", "de", "tr", rng.choice(("tr-de", "tr-fr", "tr-en"))]
        picked = rng.sample(others, 3)
        for k, tradition in enumerate(picked):
            spelled = person_spelling(person, tradition, base + 1 + k, ed=ed)
            if spelled not in seen:
                seen.add(spelled)
                travelling.append([*spelled, tradition, *document(spelled, tradition)[2:]])
        variations = [(listed_tradition, base, v, v) for v in rng.sample(variations_for(person), 2)]
        if edition >= 3:  # another tradition AND a disturbance
            k = rng.randrange(len(picked))
            variations.append((picked[k], base + 1 + k, rng.choice(variations_for(person)), "mixed"))
        for tradition, spelling_seed, variation, tag in variations:  # one thing changed
            spelled = person_spelling(person, tradition, spelling_seed, variation, rng, ed=ed)
            if spelled not in seen:
                seen.add(spelled)
                travelling.append([*spelled, tag, *document(spelled, tradition)[2:]])
        people.append({"listed": list(listed), "sounds": [person["surname"], " ".join(person["given"])],
                       "travelling": travelling})
    different = []
    for n, person in enumerate(identities[: count // 2]):
        tradition = rng.choice(("fr", "en"))
        if n % 2 == 0:  # same surname, another first given name (a brother, a cousin)
            pool = ed.female if person["given"][0] in ed.female else ed.male
            other = {"surname": person["surname"],
                     "given": [rng.choice([g for g in pool if g not in person["given"]]), *person["given"][1:]]}
        else:  # same given names, another family
            other = {"surname": rng.choice([s for s in ed.surnames if s != person["surname"]]),
                     "given": person["given"]}
        base = seed * 100_000 + 50_000 + n * 10
        different.append([document(person_spelling(person, tradition, base, ed=ed), tradition),
                          document(person_spelling(other, tradition, base + 1, ed=ed), tradition)])
    if edition >= 3:  # one edit away, everything else spelled alike: the listed spelling against the near name
        for n, (person, entry, tradition) in enumerate(zip(identities, people, listed_in, strict=True)):
            other = near_person(person, rng)
            if other is not None:
                spelled = person_spelling(other, tradition, seed * 100_000 + n * 10, ed=ed)
                different.append([entry["listed"], document(spelled, tradition)])
    return {
        "_comment": comment(seed, count, edition),
        "people": people,
        "different_people": different,
    }


def near_impostors(data: dict) -> list[list[list[str]]]:
    """Near impostors (one edit of NEAR_EDITS away, spelled alike otherwise) for every listed person of a set
    this module generated; edition 3 sets hold them already, for edition 2 they are made here (development)."""
    meta = re.search(r"--seed (\d+) --people (\d+)", data["_comment"])
    edition = re.search(r"--edition (\d+)", data["_comment"])
    if meta is None or (edition and int(edition[1]) >= 3):
        return []
    seed, ed, rng, pairs = int(meta[1]), EDITIONS[2], random.Random(int(meta[1]) + 1), []
    for n, entry in enumerate(data["people"]):
        surname, given = entry["sounds"]
        person = {"surname": surname, "given": given.split()}
        other = near_person(person, rng)
        base = seed * 100_000 + n * 10
        for tradition in ("fr", "en"):
            if other and list(person_spelling(person, tradition, base, ed=ed)) == entry["listed"]:
                pairs.append([entry["listed"], list(person_spelling(other, tradition, base, ed=ed))])
    return pairs


def comment(seed: int, count: int, edition: int) -> str:
    """The set's provenance line (tests/hitlist/test_name_sets.py reads the command from it)."""
    if edition == 2:
        return (f"EVALUATION set 2, generated by bench/names_evalset.py --seed {seed} --people {count} (see its "
                "docstring): Arabic names written as sounds, spelled by French, English, Turkish and German habits, "
                "with one disturbance (particle, double, vowel, order). Frozen before the matcher it "
                "measures was tuned; never used to build rules or the dictionary. Generated specimens, "
                "no real persons.")
    return (f"EVALUATION set {edition}, generated by bench/names_evalset.py --edition {edition} --seed {seed} "
            f"--people {count} (see its docstring): new identities written as sounds, spelled by French, English, "
            "German and Turkish habits, Turkish letters as German, French and English documents write them, "
            "AL-DIN/ALLAH compounds, with one disturbance (particle, double, vowel, order) or a tradition and a "
            "disturbance (mixed); near pairs one edit apart. Frozen (committed on its own) before the matcher it "
            "measures was tuned; never used to build rules or the dictionary. Generated specimens, no real persons."
            + (" Edition 4 on: no two identities the matcher's rules take for one person; each document spelling "
               "carries its issuing state (4th item)." if edition >= 4 else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edition", type=int, choices=sorted(EDITIONS), default=2,
                        help="2: the habits of evaluation set 2; 3: new identities and more habits; 4: new identities, "
                             "no identities the rules make one person, issuing states; 5 to 8: as 4, new identities")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--people", type=int, default=120)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = generate(args.seed, args.people, args.edition)
    args.out.write_text(dumps(data), "utf-8")
    print(f"{args.out}: {len(data['people'])} people, {sum(len(p['travelling']) for p in data['people'])} "
          f"spellings, {len(data['different_people'])} different-people pairs")


def dumps(data: dict) -> str:
    """The set as JSON, one person per line (diffable)."""
    lines = ["{", f' "_comment": {json.dumps(data["_comment"])},', ' "people": [']
    lines += [f"  {json.dumps(p, ensure_ascii=False)}," for p in data["people"]]
    lines[-1] = lines[-1].rstrip(",")
    lines += [" ],", ' "different_people": [']
    lines += [f"  {json.dumps(p, ensure_ascii=False)}," for p in data["different_people"]]
    lines[-1] = lines[-1].rstrip(",")
    lines += [" ]", "}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
