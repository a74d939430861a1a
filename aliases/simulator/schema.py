"""VICIdial's two tables the portal reads, as the 2.14 schema declares them (the columns the
protocol document lists; the real `phones` has many more the portal never reads).

Used by the simulator when it keeps its state in MariaDB, and by the tests that read a real
MariaDB as the portal reads VICIdial's. Case-insensitive collation, as VICIdial's tables:
`XYZ100` and `xyz100` are one alias.
"""

PHONES_TABLE = """
CREATE TABLE IF NOT EXISTS phones (
    extension VARCHAR(100) NOT NULL,
    dialplan_number VARCHAR(20),
    voicemail_id VARCHAR(10),
    phone_ip VARCHAR(15),
    computer_ip VARCHAR(15),
    server_ip VARCHAR(15) NOT NULL,
    login VARCHAR(15),
    pass VARCHAR(100),
    status VARCHAR(10),
    active ENUM('Y','N'),
    phone_type VARCHAR(50),
    fullname VARCHAR(50),
    protocol ENUM('SIP','Zap','IAX2','EXTERNAL') DEFAULT 'SIP',
    UNIQUE KEY extenserver (extension, server_ip),
    KEY login (login)
) DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci
"""

PHONES_ALIAS_TABLE = """
CREATE TABLE IF NOT EXISTS phones_alias (
    alias_id VARCHAR(20) NOT NULL PRIMARY KEY,
    alias_name VARCHAR(50),
    logins_list VARCHAR(255),
    user_group VARCHAR(20) DEFAULT '---ALL---'
) DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci
"""

VICIDIAL_TABLES = (PHONES_TABLE, PHONES_ALIAS_TABLE)
