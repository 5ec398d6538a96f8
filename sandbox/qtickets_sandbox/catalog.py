"""Static vocabulary for the synthetic organiser: cities, venues, titles, people, UTM tags."""

from __future__ import annotations

# (id, name, IANA timezone, subdomain, lat, lon)
CITIES = [
    (1, "Москва", "Europe/Moscow", "msk", 55.751244, 37.618423),
    (2, "Санкт-Петербург", "Europe/Moscow", "spb", 59.93863, 30.31413),
    (24, "Томск", "Asia/Krasnoyarsk", "tomsk", 56.4977, 84.97437),
    (68, "Барнаул", "Asia/Novokuznetsk", "barnaul", 53.34776, 83.77988),
    (74, "Новосибирск", "Asia/Novosibirsk", "nsk", 55.030199, 82.92043),
    (96, "Красноярск", "Asia/Krasnoyarsk", "krsk", 56.010563, 92.852572),
    (205, "Междуреченск", "Asia/Novokuznetsk", "mzhd", 53.68657, 88.0703),
    (12, "Екатеринбург", "Asia/Yekaterinburg", "ekb", 56.838011, 60.597474),
]

VENUES = [
    ('ДК "Юбилейный"', "пр. Ленина, 45"),
    ('Концертный зал "Сибирь"', "ул. Советская, 12"),
    ('ТЦ "Радуга Центр"', "ул. Полевая , 12Б"),
    ("Филармония", "пл. Театральная, 1"),
    ('Арт-пространство "Завод"', "ул. Кирова, 8/2"),
    ("Театр драмы", "ул. Пушкина, 3"),
]

# (title, slug, event_type_id, kind) — kind "concert" = seated hall + GA, "expo" = one long GA show
TITLES = [
    ("Детская интерактивная выставка Город Мозаики", "gorod-mozaiki", 11, "expo"),
    ("Симфонический оркестр: Музыка кино", "muzyka-kino", 3, "concert"),
    ('Стендап-концерт "Без цензуры"', "standup-bez-cenzury", 10, "concert"),
    ('Квест-выставка "Тайны океана"', "tajny-okeana", 11, "expo"),
    ("Гала-концерт органной музыки", "organ-gala", 3, "concert"),
    ("Шоу мыльных пузырей", "shou-puzyrej", 3, "concert"),
    ("Выставка динозавров", "dinozavry", 11, "expo"),
    ("Рок-хиты при свечах", "rok-pri-svechah", 3, "concert"),
    ('Спектакль "Маленький принц"', "malenkij-princ", 3, "concert"),
    ("Лекторий: История джаза", "istoriya-dzhaza", 10, "concert"),
]

DESCRIPTIONS = [
    "ВСЕХ СЮЖЕТ.\r\nСЮЖЕТ МАСТЕРСКАЯ ГОСТИ ВСЕХ ВСТРЕЧА ВСТРЕЧА ГОРОД.",
    "Программа вечера:\r\n— первое отделение;\r\n— второе отделение.",
    "",
]

FIRST_NAMES = [
    "Лев",
    "Зарина",
    "Ипполит",
    "Анна",
    "Мария",
    "Олег",
    "Greta",
    "Ivan",
    "Софья",
    "Дмитрий",
    "Елена",
    "Артём",
    "Kate",
    "Никита",
    "Алиса",
]
SURNAMES = [
    "Лесникин",
    "Лозинина",
    "Пригоркин",
    "Иванова",
    "Смирнов",
    "Nora",
    "Petrov",
    "Кузнецова",
    "Орлов",
    "Белова",
    None,
]
MIDDLENAMES = [None, None, None, "Петрович", "Сергеевна"]

UTM_VARIANTS = [
    {"utm_source": "vk", "utm_medium": "posty", "utm_campaign": "anons2"},
    {"utm_source": "insta", "utm_medium": "opisanie", "utm_campaign": "profil"},
    {
        "utm_source": "yandex",
        "utm_medium": "cpc",
        "utm_campaign": "39461572",
        "utm_content": "20542444702",
        "utm_term": "афиша выставки",
    },
    {"utm_source": "vk", "utm_medium": "lenta", "utm_campaign": "promokod_zaprosy"},
]

COLOR_THEMES = [
    "#e53935",
    "#d81b60",
    "#8e24aa",
    "#5e35b1",
    "#3949ab",
    "#1e88e5",
    "#039be5",
    "#00acc1",
    "#00897b",
    "#43a047",
    "#7cb342",
    "#c0ca33",
    "#fdd835",
    "#ffb300",
    "#fb8c00",
]

# Seated zones: (zone id, label for seat names, rows, places per row)
SEATED_ZONES = [("PARTERRE", "Партер", 10, 14), ("BALCONY", "Балкон", 4, 12)]
# General-admission zones: (zone id, seat name)
GA_ZONES = [
    ("vzroslyj-bilet", "Взрослый билет"),
    ("detskij-bilet-v-budni", "Детский билет (в будни)"),
    ("tancpol", "Танцпол"),
]

DISCOUNT_PERCENTS = [10, 15, 20, 30, 50, 100]
