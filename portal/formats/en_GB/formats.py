# Every time the portal shows, the admin's included, carries its seconds and its zone: the
# audit trail is read next to VICIdial's logs, which may be on another clock.
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s T"
