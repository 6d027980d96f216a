"""The central archive of payment notices (pagoPA ACA): ECs publish each notice they issue and
its lifecycle; the stand-in reads it when an EC is down, and payments mark notices PAID."""
