"""Look-up tables: country names/codes -> ISO-2, and well-known cities -> ISO-2.

Keys are lower-case without dots and with single spaces (see ``addresses._country_key``).
"""

from __future__ import annotations

import phonenumbers


def _table(rows: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in rows.strip().splitlines():
        code, names = line.split(":", 1)
        for name in names.split("|"):
            out[name.strip().lower().replace(".", "")] = code.strip()
    return out


_COUNTRY_NAMES = """
US: united states|united states of america|usa|us|u s a|u s|america|vereinigte staaten|états-unis|etats-unis|etats unis|美国|美國|estados unidos|usa (united states)
GB: united kingdom|uk|u k|great britain|britain|england|scotland|wales|northern ireland|gb|gbr|vereinigtes königreich|großbritannien|grossbritannien|royaume-uni|royaume uni|angleterre|英国|英國|reino unido
DE: germany|deutschland|de|deu|ger|allemagne|德国|德國|alemania|bundesrepublik deutschland|brd
FR: france|frankreich|fr|fra|法国|法國|francia|république française
CN: china|中国|中國|cn|chn|prc|p r china|pr china|people's republic of china|peoples republic of china|volksrepublik china|chine|中华人民共和国|中華人民共和國|mainland china
HK: hong kong|香港|hongkong
TW: taiwan|台湾|臺灣|台灣
AT: austria|österreich|oesterreich|autriche
CH: switzerland|schweiz|suisse|svizzera|瑞士
NL: netherlands|the netherlands|holland|niederlande|pays-bas
BE: belgium|belgien|belgique|belgië
LU: luxembourg|luxemburg
IT: italy|italien|italie|italia|意大利
ES: spain|spanien|espagne|españa|espana|西班牙
PT: portugal
IE: ireland|irland|irlande|eire
DK: denmark|dänemark|danemark
SE: sweden|schweden|suède
NO: norway|norwegen|norvège
FI: finland|finnland|finlande
PL: poland|polen|pologne|polska
CZ: czech republic|czechia|tschechien|république tchèque
CA: canada|kanada|加拿大
AU: australia|australien|australie|澳大利亚
NZ: new zealand|neuseeland
JP: japan|japon|日本
KR: south korea|korea|republic of korea|südkorea|corée du sud|韩国|韓國
SG: singapore|singapur|新加坡
IN: india|indien|inde
BR: brazil|brasilien|brésil|brasil
MX: mexico|mexiko|mexique|méxico
RU: russia|russland|russie|russian federation|俄罗斯
"""

#: Country names, ISO-2 and ISO-3 codes, common abbreviations -> ISO-2.
COUNTRY_ALIASES: dict[str, str] = {
    **{r.lower(): r for r in phonenumbers.SUPPORTED_REGIONS if len(r) == 2},
    **_table(_COUNTRY_NAMES),
}

_CITIES = """
US: new york|new york city|nyc|los angeles|chicago|houston|phoenix|philadelphia|san antonio|san diego|dallas|san jose|austin|jacksonville|columbus|charlotte|san francisco|seattle|denver|boston|nashville|portland|las vegas|detroit|atlanta|miami|minneapolis|kansas city|pittsburgh|salt lake city|raleigh|baltimore|milwaukee|albuquerque|tucson|fresno|sacramento|oklahoma city|new orleans|cleveland|st louis|saint louis|honolulu|springfield
GB: london|manchester|leeds|glasgow|liverpool|bristol|sheffield|edinburgh|leicester|cardiff|nottingham|newcastle upon tyne|newcastle|southampton|oxford|brighton|reading|york|belfast|aberdeen|coventry|bradford|swansea
DE: berlin|hamburg|münchen|muenchen|munich|köln|koeln|cologne|frankfurt am main|frankfurt|stuttgart|düsseldorf|duesseldorf|leipzig|dortmund|essen|bremen|dresden|hannover|hanover|nürnberg|nuernberg|nuremberg|duisburg|bochum|wuppertal|bielefeld|bonn|münster|muenster|mannheim|karlsruhe|augsburg|freiburg im breisgau|freiburg|wiesbaden|kiel|mainz|heidelberg|regensburg
FR: paris|marseille|lyon|toulouse|nice|nantes|strasbourg|montpellier|bordeaux|lille|rennes|reims|le havre|saint-étienne|saint-etienne|saint étienne|toulon|grenoble|dijon|angers|nîmes|nimes|villeurbanne|clermont-ferrand|le mans|aix-en-provence|brest|tours|limoges|amiens|metz|perpignan|besançon|orléans|rouen|caen|nancy
CN: 北京|beijing|上海|shanghai|广州|廣州|guangzhou|深圳|shenzhen|杭州|hangzhou|南京|nanjing|苏州|蘇州|suzhou|成都|chengdu|武汉|武漢|wuhan|西安|xi'an|xian|天津|tianjin|重庆|重慶|chongqing|青岛|青島|qingdao|厦门|廈門|xiamen|长沙|長沙|changsha|郑州|鄭州|zhengzhou|沈阳|瀋陽|沈陽|shenyang|大连|大連|dalian|宁波|寧波|ningbo|济南|濟南|jinan|合肥|hefei|福州|fuzhou|昆明|kunming|哈尔滨|哈爾濱|harbin|东莞|東莞|dongguan|佛山|foshan|无锡|無錫|wuxi
"""

#: Well-known city names (native, English, exonyms, ASCII-folded) -> ISO-2.
CITY_COUNTRY: dict[str, str] = _table(_CITIES)
