"""Dataset sources behind one interface: each returns a Prepared dataset."""
