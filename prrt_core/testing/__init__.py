"""Test fixtures that ship with the library: an analytic SPECT/CT phantom written as DICOM."""
