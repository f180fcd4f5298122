# lme4's REML fit of the InstEval model of benchmarks/crossed.py (lme4's own copy of the
# data, the same 73,421 ratings as hierlmm.datasets' "insteval"). Prints one JSON line.
# Run by benchmarks/crossed.py when Rscript and lme4 are installed (Debian: apt-get install
# r-cran-lme4); never by the test suite.
suppressMessages(library(lme4))
elapsed <- system.time(
  m <- lmer(y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept), InstEval, REML = TRUE)
)[["elapsed"]]
vc <- as.data.frame(VarCorr(m))
sds <- setNames(vc$sdcor, ifelse(is.na(vc$var1), "sigma", vc$grp))
cat(sprintf(paste0('{"elapsed_s": %.3f, "sd_s": %.6f, "sd_d": %.6f, "sd_dept": %.6f, ',
                   '"sigma": %.6f, "R": "%s", "lme4": "%s"}\n'),
            elapsed, sds[["s"]], sds[["d"]], sds[["dept"]], sds[["sigma"]],
            R.version$version.string, as.character(packageVersion("lme4"))))
