package statement

import (
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// SheetName is the workbook's one sheet.
const SheetName = "Movements"

// WriteXLSX writes the statement's rows as a workbook of one sheet: the
// same cells as the CSV file, amounts as numbers shown with their
// currency's digits. Each amount is written as the decimal text it is
// (excelize's SetCellDefault), so no float stands between the minor units
// and the file.
func (st Statement) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", SheetName); err != nil {
		return err
	}
	styles := map[int]int{}
	style := func(digits int) (int, error) {
		if id, ok := styles[digits]; ok {
			return id, nil
		}
		format := "0"
		if digits > 0 {
			format += "." + strings.Repeat("0", digits)
		}
		id, err := f.NewStyle(&excelize.Style{CustomNumFmt: &format})
		styles[digits] = id
		return id, err
	}
	for y, r := range st.Rows() {
		for x, c := range r {
			ref, err := excelize.CoordinatesToCellName(x+1, y+1)
			if err != nil {
				return err
			}
			if !c.Amount {
				if err := f.SetCellStr(SheetName, ref, c.Text); err != nil {
					return err
				}
				continue
			}
			if err := f.SetCellDefault(SheetName, ref, c.Text); err != nil {
				return err
			}
			id, err := style(c.Digits)
			if err != nil {
				return err
			}
			if err := f.SetCellStyle(SheetName, ref, ref, id); err != nil {
				return err
			}
		}
	}
	if err := f.SetColWidth(SheetName, "A", "B", 12); err != nil {
		return err
	}
	if err := f.SetColWidth(SheetName, "D", "G", 18); err != nil {
		return err
	}
	return f.Write(w)
}
