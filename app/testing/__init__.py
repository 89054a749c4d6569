"""Test kit shipped with the package: fakes and the ExchangeGateway contract suite."""
