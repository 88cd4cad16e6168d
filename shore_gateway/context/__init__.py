"""Context merged into grievances: vessel positions (NAF, NMEA, AIS) and catch (GDST/EPCIS)."""
