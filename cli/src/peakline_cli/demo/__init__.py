"""`peakline demo`: the whole platform on one machine, from one command."""
