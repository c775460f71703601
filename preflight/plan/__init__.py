"""Planning a migration before it happens: the convergence forecast (forecast.py), and how its
inputs are read from libvirt (dirtyrate.py: dirty-rate calculations; jobstats.py: job statistics).
Pure modules except the two gathering functions that take a libvirt domain object; importable
without libvirt."""
